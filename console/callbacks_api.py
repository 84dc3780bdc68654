"""JSON API for agents working the callback queue: claim, release, call, record, reschedule.

Each view parses its input, runs one service in one transaction and answers the callback as
listed (``callbacks.queries.CallbackView``). A move the callback's state forbids answers 409
with the current status and who holds it; a bad body answers 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from flask import Blueprint, Response, g, jsonify, request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from callbacks.claims import (
    Actor,
    CallbackConflict,
    UnknownCallback,
    claim_callback,
    claim_next_callback,
    record_disposition,
    release_callback,
    reschedule_callback,
)
from callbacks.lifecycle import Disposition
from callbacks.queries import CallbackView, EventView, callback_history, callback_view
from config.dependencies import current
from console.auth import roles_allowed
from console.problems import problem
from db.transaction import read_transaction, transaction
from intake.staff import Role, StaffMember

bp = Blueprint("callbacks_api", __name__, url_prefix="/api/v1/callbacks")

# The people who call customers back, and the managers who keep the queue moving.
WORKERS = (Role.AGENT, Role.MANAGER)

M = TypeVar("M", bound=BaseModel)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClaimNextBody(_Body):
    """Which region's queue to take from (default: the agent's own)."""

    region: str | None = Field(default=None, max_length=40)


class ReleaseBody(_Body):
    """Why the callback goes back to the queue."""

    reason: str | None = Field(default=None, max_length=400)


class DispositionBody(_Body):
    """How the call to the customer went."""

    disposition: Disposition
    note: str | None = Field(default=None, max_length=400)
    # Required for another_time: when the customer asked to be called.
    call_again_at: AwareDatetime | None = None


class RescheduleBody(_Body):
    """When to call the customer instead, and why."""

    at: AwareDatetime
    reason: str | None = Field(default=None, max_length=400)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def callback_json(view: CallbackView) -> dict[str, Any]:
    """A callback as the API answers it."""
    return {
        "id": view.id,
        "sr_number": view.sr_number,
        "status": view.status,
        "region": view.region,
        "language": view.language,
        "product_line": view.product_line,
        "callback_number": view.callback_number,
        "contact_name": view.contact_name,
        "company": view.company,
        "description": view.description,
        "requested_at": _iso(view.requested_at),
        "due_at": _iso(view.due_at),
        "time_left_seconds": int(view.time_left.total_seconds()),
        "claimed_by": view.claimed_by,
        "claim_expires_at": _iso(view.claim_expires_at),
        "not_before": _iso(view.not_before),
        "attempts": view.attempts,
        "disposition": view.disposition,
        "closed_at": _iso(view.closed_at),
        "created_at": _iso(view.created_at),
    }


def _event_json(event: EventView) -> dict[str, Any]:
    return {
        "at": _iso(event.at),
        "actor": event.actor,
        "action": event.action,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "reason": event.reason,
    }


def _body(model: type[M]) -> M | Response:
    """The request's JSON body as ``model``, or a 422 problem naming the first bad field."""
    data = request.get_json(silent=True)
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        return problem(422, "Invalid request body", f"{field}: {first['msg']}", field=field)


def _me() -> StaffMember:
    member = g.user
    assert isinstance(member, StaffMember)
    return member


def _moved(callback_id: int, move: Callable[[Session], object]) -> Response:
    """Run ``move`` in one transaction and answer the callback as it now stands."""
    deps = current()
    try:
        with transaction(deps.session_factory) as session:
            move(session)
    except UnknownCallback:
        return problem(404, "No such callback", f"no callback {callback_id}")
    except CallbackConflict as exc:
        return _conflict(exc)
    except ValueError as exc:
        return problem(422, "Invalid request", str(exc))
    return _answer(callback_id)


def _answer(callback_id: int, status: int = 200) -> Response:
    deps = current()
    with read_transaction(deps.session_factory) as session:
        view = callback_view(session, callback_id, now=deps.clock.now())
    if view is None:
        return problem(404, "No such callback", f"no callback {callback_id}")
    response = jsonify(callback_json(view))
    response.status_code = status
    return response


def _conflict(exc: CallbackConflict) -> Response:
    return problem(
        409,
        "Callback not in a state for that",
        exc.detail,
        callback_id=exc.callback_id,
        current_status=exc.status.value,
        holder=exc.holder,
    )


@bp.get("/<int:callback_id>")
@roles_allowed(*WORKERS)
def get_callback(callback_id: int) -> Response:
    """One callback with its history of moves."""
    deps = current()
    with read_transaction(deps.session_factory) as session:
        view = callback_view(session, callback_id, now=deps.clock.now())
        history = callback_history(session, callback_id)
    if view is None:
        return problem(404, "No such callback", f"no callback {callback_id}")
    return jsonify({**callback_json(view), "history": [_event_json(e) for e in history]})


@bp.post("/claim-next")
@roles_allowed(*WORKERS)
def claim_next() -> Response:
    """Take the next callback of the region's queue (204 when none is waiting)."""
    body = _body(ClaimNextBody)
    if isinstance(body, Response):
        return body
    deps = current()
    me = _me()
    region = body.region or me.region
    if region is None:
        return problem(
            422,
            "Which region?",
            "give region, or set yours: hotline user add ... --region",
            field="region",
        )
    try:
        deps.catalog.region(region)
    except KeyError:
        return problem(422, "Unknown region", f"no region {region!r}", field="region")
    with transaction(deps.session_factory) as session:
        callback = claim_next_callback(
            session, by=me, region=region, now=deps.clock.now(), catalog=deps.catalog
        )
        claimed = None if callback is None else callback.id
    if claimed is None:
        return Response(status=204)
    return _answer(claimed)


@bp.post("/<int:callback_id>/claim")
@roles_allowed(*WORKERS)
def claim(callback_id: int) -> Response:
    """Take this callback; 409 naming the holder when someone has it."""
    deps = current()
    me = _me()
    return _moved(
        callback_id,
        lambda session: claim_callback(
            session, callback_id, by=me, now=deps.clock.now(), catalog=deps.catalog
        ),
    )


@bp.post("/<int:callback_id>/release")
@roles_allowed(*WORKERS)
def release(callback_id: int) -> Response:
    """Give the callback back to the queue, in its place."""
    body = _body(ReleaseBody)
    if isinstance(body, Response):
        return body
    deps = current()
    me = Actor.of(_me())
    return _moved(
        callback_id,
        lambda session: release_callback(
            session, callback_id, by=me, now=deps.clock.now(), reason=body.reason
        ),
    )


@bp.post("/<int:callback_id>/disposition")
@roles_allowed(*WORKERS)
def disposition(callback_id: int) -> Response:
    """Record how the call went: closed, a retry queued, or unreachable after the last try."""
    body = _body(DispositionBody)
    if isinstance(body, Response):
        return body
    if body.disposition is Disposition.ANOTHER_TIME and body.call_again_at is None:
        return problem(
            422,
            "When should we call?",
            "another_time needs call_again_at",
            field="call_again_at",
        )
    deps = current()
    me = Actor.of(_me())
    return _moved(
        callback_id,
        lambda session: record_disposition(
            session,
            callback_id,
            by=me,
            disposition=body.disposition,
            now=deps.clock.now(),
            catalog=deps.catalog,
            note=body.note,
            call_again_at=body.call_again_at,
        ),
    )


@bp.post("/<int:callback_id>/reschedule")
@roles_allowed(*WORKERS)
def reschedule(callback_id: int) -> Response:
    """Call the customer at another time: the callback is due then."""
    body = _body(RescheduleBody)
    if isinstance(body, Response):
        return body
    deps = current()
    now = deps.clock.now()
    if body.at <= now:
        return problem(422, "Time in the past", "at must lie in the future", field="at")
    me = Actor.of(_me())
    return _moved(
        callback_id,
        lambda session: reschedule_callback(
            session,
            callback_id,
            by=me,
            at=body.at,
            now=now,
            catalog=deps.catalog,
            reason=body.reason,
        ),
    )
