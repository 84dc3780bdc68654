"""JSON API for escalations: raise, accept, engineer, plans, vendors, re-escalate, de-escalate.

Engineers and managers raise an escalation and work on it; the region's managers are told by
e-mail when one is raised. A move the escalation's state forbids answers 409 with every reason
(a de-escalation names each missing condition); a bad body answers 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from config.dependencies import current
from console.auth import roles_allowed
from console.problems import parsed_body, problem
from db.transaction import read_transaction, transaction
from escalations.history import Actor, UnknownEscalation
from escalations.lifecycle import Condition, MoveRefused
from escalations.plans import (
    CommunicationKind,
    PlanStep,
    VendorChannel,
    agree_action_plan,
    record_update,
    set_communication_plan,
    track_vendor_case,
)
from escalations.queries import EscalationDetail, EscalationSummary, escalation_detail
from escalations.queries import list_escalations as list_rows
from escalations.records import EscalationReason, EscalationStatus
from escalations.services import (
    UnknownServiceRequest,
    UnknownStaff,
    accept_escalation,
    assign_engineer,
    de_escalate,
    raise_escalation,
    re_escalate,
    record_condition,
)
from intake.staff import Role, StaffMember

bp = Blueprint("escalations_api", __name__, url_prefix="/api/v1/escalations")

# Seed: "Eskalieren können der zuständige Engineer, sein Manager oder der Duty Manager".
STAFF = (Role.ENGINEER, Role.MANAGER)
MANAGERS = (Role.MANAGER,)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RaiseBody(_Body):
    """Escalate an SR."""

    sr_number: str = Field(pattern=r"^\d{4,16}$")
    reason: EscalationReason
    reason_text: str | None = Field(default=None, max_length=1000)


class EngineerBody(_Body):
    """Who becomes the primary contact."""

    engineer: str = Field(min_length=1, max_length=120)


class StepBody(_Body):
    """One step of the plan."""

    text: str = Field(min_length=1, max_length=2000)
    owner: str = Field(min_length=1, max_length=200)
    due_at: AwareDatetime | None = None


class ActionPlanBody(_Body):
    """The plan agreed in the conference call, and who agreed it."""

    steps: list[StepBody] = Field(min_length=1, max_length=50)
    participants: list[str] = Field(min_length=1, max_length=30)


class CommunicationPlanBody(_Body):
    """How often, how and to whom progress is reported."""

    kind: CommunicationKind
    every_minutes: int = Field(ge=15, le=7 * 24 * 60)
    participants: list[str] = Field(min_length=1, max_length=30)


class UpdateBody(_Body):
    """An update the customer received."""

    summary: str = Field(min_length=1, max_length=2000)


class VendorBody(_Body):
    """Another vendor's case."""

    vendor: str = Field(min_length=1, max_length=200)
    case_number: str = Field(min_length=1, max_length=100)
    status: str = Field(min_length=1, max_length=100)
    via: VendorChannel


class ReEscalateBody(_Body):
    """Why the customer is unhappy with progress."""

    reason: str = Field(min_length=1, max_length=1000)


class ConditionBody(_Body):
    """One de-escalation condition; the customer's agreement says who agreed and how."""

    condition: Condition
    customer_contact: str | None = Field(default=None, max_length=200)
    how: str | None = Field(default=None, max_length=200)


class DeEscalateBody(_Body):
    """A closing note."""

    note: str | None = Field(default=None, max_length=2000)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _summary_json(row: EscalationSummary) -> dict[str, Any]:
    return {
        "id": row.id,
        "sr_number": row.sr_number,
        "region": row.region,
        "status": row.status,
        "reason": row.reason,
        "priority": row.priority,
        "us_government": row.is_us_government,
        "owner": row.owner,
        "engineer": row.engineer,
        "created_at": _iso(row.created_at),
        "age_seconds": int(row.age.total_seconds()),
        "next_update_due_at": _iso(row.next_update_due_at),
    }


def _detail_json(row: EscalationDetail) -> dict[str, Any]:
    plan = row.communication_plan
    return {
        **_summary_json(row),
        "reason_text": row.reason_text,
        "raised_by": row.raised_by,
        "raised_by_kind": row.raised_by_kind,
        "contact_number": row.contact_number,
        "accepted_at": _iso(row.accepted_at),
        "management_informed_at": _iso(row.management_informed_at),
        "conditions": {
            "plan_satisfactory_at": _iso(row.plan_satisfactory_at),
            "analysis_on_track_at": _iso(row.analysis_on_track_at),
            "customer_agreed_at": _iso(row.customer_agreed_at),
            "customer_agreed_by": row.customer_agreed_by,
            "customer_agreed_how": row.customer_agreed_how,
        },
        "de_escalated_at": _iso(row.de_escalated_at),
        "action_plan": [
            {"position": s.position, "text": s.text, "owner": s.owner, "due_at": _iso(s.due_at)}
            for s in row.action_plan
        ],
        "communication_plan": None
        if plan is None
        else {
            "kind": plan.kind,
            "every_minutes": plan.every_minutes,
            "participants": plan.participants,
            "next_update_due_at": _iso(plan.next_update_due_at),
            "last_update_at": _iso(plan.last_update_at),
        },
        "vendor_cases": [
            {
                "vendor": c.vendor,
                "case_number": c.case_number,
                "status": c.status,
                "via": c.via,
                "updated_at": _iso(c.updated_at),
            }
            for c in row.vendor_cases
        ],
        "events": [
            {"at": _iso(e.at), "actor": e.actor, "action": e.action, "detail": e.detail}
            for e in row.events
        ],
    }


def _me() -> StaffMember:
    member = g.user
    assert isinstance(member, StaffMember)
    return member


def _answer(escalation_id: int, status: int = 200) -> Response:
    deps = current()
    with read_transaction(deps.session_factory) as session:
        row = escalation_detail(session, escalation_id, now=deps.clock.now())
    if row is None:
        return problem(404, "No such escalation", f"no escalation {escalation_id}")
    response = jsonify(_detail_json(row))
    response.status_code = status
    return response


def _changed(escalation_id: int, change: Callable[[Session], object]) -> Response:
    """Run ``change`` in one transaction and answer the escalation as it now stands."""
    try:
        with transaction(current().session_factory) as session:
            change(session)
    except UnknownEscalation:
        return problem(404, "No such escalation", f"no escalation {escalation_id}")
    except MoveRefused as exc:
        return problem(
            409,
            "Escalation not in a state for that",
            str(exc),
            current_status=exc.status.value,
            reasons=exc.reasons,
        )
    except UnknownStaff as exc:
        return problem(422, "Unknown engineer", str(exc), field="engineer")
    except ValueError as exc:
        return problem(422, "Invalid request", str(exc))
    return _answer(escalation_id)


@bp.get("")
@roles_allowed(*STAFF)
def list_escalations() -> Response:
    """Escalations, highest priority first, then oldest; filtered by ``status`` and ``region``."""
    status = request.args.get("status")
    allowed = [s.value for s in EscalationStatus]
    if status is not None and status not in allowed:
        return problem(
            400, "Unknown status", f"status must be one of {', '.join(allowed)}", field="status"
        )
    deps = current()
    with read_transaction(deps.session_factory) as session:
        rows = list_rows(
            session, now=deps.clock.now(), status=status, region=request.args.get("region")
        )
    return jsonify(escalations=[_summary_json(r) for r in rows])


@bp.get("/<int:escalation_id>")
@roles_allowed(*STAFF)
def get_escalation(escalation_id: int) -> Response:
    """One escalation with its plans, vendor cases and whole history."""
    return _answer(escalation_id)


@bp.post("")
@roles_allowed(*STAFF)
def raise_one() -> Response:
    """Escalate an SR (the region's managers are told by e-mail); 201, or 200 when the SR is
    already escalated and the request was added to that escalation."""
    body = parsed_body(RaiseBody)
    if isinstance(body, Response):
        return body
    deps = current()
    me = _me()
    try:
        with transaction(deps.session_factory) as session:
            escalation, is_new = raise_escalation(
                session,
                sr_number=body.sr_number,
                reason=body.reason,
                reason_text=body.reason_text,
                by=Actor.of(me),
                raised_by_kind="staff",
                now=deps.clock.now(),
            )
            escalation_id = escalation.id
    except UnknownServiceRequest as exc:
        return problem(422, "Unknown SR", str(exc), field="sr_number")
    return _answer(escalation_id, status=201 if is_new else 200)


@bp.post("/<int:escalation_id>/accept")
@roles_allowed(*MANAGERS)
def accept(escalation_id: int) -> Response:
    """Take the escalation as duty manager; 409 "already accepted by <name>" when taken."""
    deps = current()
    me = _me()
    return _changed(
        escalation_id,
        lambda s: accept_escalation(s, escalation_id, by=me, now=deps.clock.now()),
    )


@bp.post("/<int:escalation_id>/engineer")
@roles_allowed(*MANAGERS)
def engineer(escalation_id: int) -> Response:
    """Assign the escalation engineer, the customer's primary contact."""
    body = parsed_body(EngineerBody)
    if isinstance(body, Response):
        return body
    deps, me = current(), Actor.of(_me())
    return _changed(
        escalation_id,
        lambda s: assign_engineer(
            s, escalation_id, engineer=body.engineer, by=me, now=deps.clock.now()
        ),
    )


@bp.post("/<int:escalation_id>/action-plan")
@roles_allowed(*STAFF)
def action_plan(escalation_id: int) -> Response:
    """Record the action plan agreed in the conference call (a new version each time)."""
    body = parsed_body(ActionPlanBody)
    if isinstance(body, Response):
        return body
    deps, me = current(), Actor.of(_me())
    steps = [PlanStep(s.text, s.owner, s.due_at) for s in body.steps]
    return _changed(
        escalation_id,
        lambda s: agree_action_plan(
            s,
            escalation_id,
            steps=steps,
            participants=body.participants,
            by=me,
            now=deps.clock.now(),
        ),
    )


@bp.post("/<int:escalation_id>/communication-plan")
@roles_allowed(*STAFF)
def communication_plan(escalation_id: int) -> Response:
    """Agree how and how often the customer hears of progress."""
    body = parsed_body(CommunicationPlanBody)
    if isinstance(body, Response):
        return body
    deps, me = current(), Actor.of(_me())
    return _changed(
        escalation_id,
        lambda s: set_communication_plan(
            s,
            escalation_id,
            kind=body.kind,
            every=timedelta(minutes=body.every_minutes),
            participants=body.participants,
            by=me,
            now=deps.clock.now(),
        ),
    )


@bp.post("/<int:escalation_id>/updates")
@roles_allowed(*STAFF)
def update(escalation_id: int) -> Response:
    """Record an update given to the customer; the next is due one period on."""
    body = parsed_body(UpdateBody)
    if isinstance(body, Response):
        return body
    deps, me = current(), Actor.of(_me())
    return _changed(
        escalation_id,
        lambda s: record_update(
            s, escalation_id, summary=body.summary, by=me, now=deps.clock.now()
        ),
    )


@bp.post("/<int:escalation_id>/vendors")
@roles_allowed(*STAFF)
def vendors(escalation_id: int) -> Response:
    """Record another vendor's case (TSANet or the customer's contract), or its new status."""
    body = parsed_body(VendorBody)
    if isinstance(body, Response):
        return body
    deps, me = current(), Actor.of(_me())
    return _changed(
        escalation_id,
        lambda s: track_vendor_case(
            s,
            escalation_id,
            vendor=body.vendor,
            case_number=body.case_number,
            status=body.status,
            via=body.via,
            by=me,
            now=deps.clock.now(),
        ),
    )


@bp.post("/<int:escalation_id>/re-escalate")
@roles_allowed(*STAFF)
def re_escalate_one(escalation_id: int) -> Response:
    """The customer is unhappy with progress: priority up, engineer and managers told."""
    body = parsed_body(ReEscalateBody)
    if isinstance(body, Response):
        return body
    deps, me = current(), Actor.of(_me())
    return _changed(
        escalation_id,
        lambda s: re_escalate(s, escalation_id, reason=body.reason, by=me, now=deps.clock.now()),
    )


@bp.post("/<int:escalation_id>/conditions")
@roles_allowed(*STAFF)
def conditions(escalation_id: int) -> Response:
    """Record one of the three de-escalation conditions."""
    body = parsed_body(ConditionBody)
    if isinstance(body, Response):
        return body
    deps, me = current(), Actor.of(_me())
    return _changed(
        escalation_id,
        lambda s: record_condition(
            s,
            escalation_id,
            condition=body.condition,
            by=me,
            now=deps.clock.now(),
            customer_contact=body.customer_contact,
            how=body.how,
        ),
    )


@bp.post("/<int:escalation_id>/de-escalate")
@roles_allowed(*MANAGERS)
def de_escalate_one(escalation_id: int) -> Response:
    """End the escalation; 409 naming every condition still missing."""
    body = parsed_body(DeEscalateBody)
    if isinstance(body, Response):
        return body
    deps, me = current(), Actor.of(_me())
    return _changed(
        escalation_id,
        lambda s: de_escalate(s, escalation_id, by=me, now=deps.clock.now(), note=body.note),
    )
