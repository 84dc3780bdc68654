"""JSON API for agents working the callback queue: list, claim, release, record, reschedule.

Each view runs one service in one transaction and answers the callback as it now stands. A
move the callback's state forbids answers 409 with the current status and who holds it; bad
input answers 400 naming the field (``console.openapi.documented``), a well-formed request the
callback cannot take (another_time without a time, a time in the past) 422.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response
from sqlalchemy.orm import Session

from callbacks.calls import NoAgentPhone, start_callback_call
from callbacks.claims import (
    Actor,
    CallbackConflict,
    UnknownCallback,
    claim_callback,
    record_disposition,
    release_callback,
    reschedule_callback,
    take_next_callback,
)
from callbacks.lifecycle import Disposition
from callbacks.queries import callback_history, callback_view, list_callbacks
from config.dependencies import current
from console.auth import roles_allowed, signed_in
from console.callback_models import (
    Callback,
    CallbackEvent,
    CallbackList,
    CallbackListQuery,
    CallbackPath,
    CallbackWithHistory,
    ClaimedNext,
    ClaimNextBody,
    DispositionBody,
    ReleaseBody,
    RescheduleBody,
)
from console.openapi import API_PREFIX, documented
from console.problems import problem, status_problem
from db.transaction import read_transaction, transaction
from intake.staff import Role

bp = Blueprint("callbacks_api", __name__, url_prefix=f"{API_PREFIX}/callbacks")

# The people who call customers back, and the managers who keep the queue moving.
WORKERS = (Role.AGENT, Role.MANAGER)
TAGS = ("callbacks",)
CONFLICT_TYPE = "/api/v1/problems/callback-conflict"


def _moved(callback_id: int, move: Callable[[Session], object]) -> Callback | Response:
    """Run ``move`` and read the callback as it now stands, in one transaction."""
    deps = current()
    try:
        with transaction(deps.session_factory) as session:
            move(session)
            session.flush()
            view = callback_view(session, callback_id, now=deps.clock.now())
    except UnknownCallback:
        return status_problem(404, f"no callback {callback_id}")
    except CallbackConflict as exc:
        return problem(
            409,
            "Callback not in a state for that",
            exc.detail,
            problem_type=CONFLICT_TYPE,
            callback_id=exc.callback_id,
            current_status=exc.status.value,
            holder=exc.holder,
        )
    except NoAgentPhone as exc:
        return problem(422, "No phone to ring", str(exc), field="phone")
    except ValueError as exc:
        return status_problem(422, str(exc))
    if view is None:
        return status_problem(404, f"no callback {callback_id}")
    return Callback.of(view)


@bp.get("")
@roles_allowed(*WORKERS)
@documented(response=CallbackList, query=CallbackListQuery, tags=TAGS)
def list_queue(query: CallbackListQuery) -> CallbackList:
    """The callbacks in queue order with the time left to each promise (default: open ones)."""
    deps = current()
    status = None if query.status is None else query.status.value
    with read_transaction(deps.session_factory) as session:
        rows = list_callbacks(session, now=deps.clock.now(), status=status, region=query.region)
    return CallbackList(callbacks=[Callback.of(r) for r in rows])


@bp.get("/<int:callback_id>")
@roles_allowed(*WORKERS)
@documented(response=CallbackWithHistory, path=CallbackPath, problems=(404,), tags=TAGS)
def get_callback(path: CallbackPath) -> CallbackWithHistory | Response:
    """One callback with its history of moves."""
    deps = current()
    with read_transaction(deps.session_factory) as session:
        view = callback_view(session, path.callback_id, now=deps.clock.now())
        history = callback_history(session, path.callback_id)
    if view is None:
        return status_problem(404, f"no callback {path.callback_id}")
    return CallbackWithHistory(
        **Callback.of(view).model_dump(), history=[CallbackEvent.of(e) for e in history]
    )


@bp.post("/claim-next")
@roles_allowed(*WORKERS)
@documented(response=ClaimedNext, body=ClaimNextBody, problems=(422,), tags=TAGS)
def claim_next(body: ClaimNextBody) -> ClaimedNext | Response:
    """Take the next callback of the region's queue (the agent's own region by default)."""
    deps = current()
    me = signed_in()
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
    view = take_next_callback(
        deps.session_factory, by=me, region=region, now=deps.clock.now(), catalog=deps.catalog
    )
    return ClaimedNext(callback=None if view is None else Callback.of(view))


@bp.post("/<int:callback_id>/claim")
@roles_allowed(*WORKERS)
@documented(response=Callback, path=CallbackPath, problems=(404, 409), tags=TAGS)
def claim(path: CallbackPath) -> Callback | Response:
    """Take this callback; 409 naming the holder when someone has it."""
    deps, me = current(), signed_in()
    return _moved(
        path.callback_id,
        lambda s: claim_callback(
            s, path.callback_id, by=me, now=deps.clock.now(), catalog=deps.catalog
        ),
    )


@bp.post("/<int:callback_id>/release")
@roles_allowed(*WORKERS)
@documented(response=Callback, path=CallbackPath, body=ReleaseBody, problems=(404, 409), tags=TAGS)
def release(path: CallbackPath, body: ReleaseBody) -> Callback | Response:
    """Give the callback back to the queue, in its place (the holder, or a manager)."""
    deps, me = current(), Actor.of(signed_in())
    return _moved(
        path.callback_id,
        lambda s: release_callback(
            s, path.callback_id, by=me, now=deps.clock.now(), reason=body.reason
        ),
    )


@bp.post("/<int:callback_id>/call")
@roles_allowed(*WORKERS)
@documented(response=Callback, status=202, path=CallbackPath, problems=(404, 409, 422), tags=TAGS)
def call(path: CallbackPath) -> Callback | Response:
    """Start the agent-first call: my phone rings (from the region's number) and I hear the
    summary; pressing 1 dials the customer and bridges us, 2 releases the callback."""
    deps, me = current(), signed_in()
    return _moved(
        path.callback_id,
        lambda s: start_callback_call(
            s, path.callback_id, by=me, now=deps.clock.now(), catalog=deps.catalog
        ),
    )


@bp.post("/<int:callback_id>/disposition")
@roles_allowed(*WORKERS)
@documented(
    response=Callback,
    path=CallbackPath,
    body=DispositionBody,
    problems=(404, 409, 422),
    tags=TAGS,
)
def disposition(path: CallbackPath, body: DispositionBody) -> Callback | Response:
    """Record how the call went: closed, a retry queued, or unreachable after the last try."""
    if body.disposition is Disposition.ANOTHER_TIME and body.call_again_at is None:
        return problem(
            422,
            "When should we call?",
            "another_time needs call_again_at",
            field="call_again_at",
        )
    deps, me = current(), Actor.of(signed_in())
    return _moved(
        path.callback_id,
        lambda s: record_disposition(
            s,
            path.callback_id,
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
@documented(
    response=Callback,
    path=CallbackPath,
    body=RescheduleBody,
    problems=(404, 409, 422),
    tags=TAGS,
)
def reschedule(path: CallbackPath, body: RescheduleBody) -> Callback | Response:
    """Call the customer at another time: the callback is due then."""
    deps = current()
    now = deps.clock.now()
    if body.at <= now:
        return problem(422, "Time in the past", "at must lie in the future", field="at")
    me = Actor.of(signed_in())
    return _moved(
        path.callback_id,
        lambda s: reschedule_callback(
            s,
            path.callback_id,
            by=me,
            at=body.at,
            now=now,
            catalog=deps.catalog,
            reason=body.reason,
        ),
    )
