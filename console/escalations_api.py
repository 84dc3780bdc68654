"""JSON API for escalations: raise, accept, engineer, plans, vendors, conference calls,
re-escalate, de-escalate.

Engineers and managers raise an escalation and work on it; the region's managers are told by
e-mail when one is raised. A move the escalation's state forbids answers 409 with every reason
(a de-escalation names each missing condition); a bad body answers 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Blueprint, Response
from sqlalchemy.orm import Session

from config.dependencies import current
from console.auth import roles_allowed, signed_in
from console.escalation_models import (
    ActionPlanBody,
    CommunicationPlanBody,
    ConditionBody,
    Conference,
    ConferenceBody,
    DeEscalateBody,
    EngineerBody,
    EscalationList,
    EscalationListQuery,
    EscalationPath,
    EscalationWithHistory,
    RaiseBody,
    ReEscalateBody,
    UpdateBody,
    VendorBody,
)
from console.escalation_models import Escalation as EscalationOut
from console.openapi import API_PREFIX, documented
from console.problems import problem, status_problem
from db.transaction import read_transaction, transaction
from escalations.conference_records import ParticipantKind
from escalations.conferences import Invitee, ParticipantRefused, start_conference
from escalations.history import Actor, UnknownEscalation
from escalations.lifecycle import MoveRefused
from escalations.plans import (
    PlanStep,
    agree_action_plan,
    record_update,
    set_communication_plan,
    track_vendor_case,
)
from escalations.queries import escalation_detail
from escalations.queries import list_escalations as list_rows
from escalations.ringing import raise_and_ring
from escalations.services import (
    UnknownServiceRequest,
    UnknownStaff,
    accept_escalation,
    assign_engineer,
    de_escalate,
    re_escalate,
    record_condition,
)
from intake.staff import Role

bp = Blueprint("escalations_api", __name__, url_prefix=f"{API_PREFIX}/escalations")

# Seed: "Eskalieren können der zuständige Engineer, sein Manager oder der Duty Manager".
STAFF = (Role.ENGINEER, Role.MANAGER)
MANAGERS = (Role.MANAGER,)
TAGS = ("escalations",)
REFUSED_TYPE = "/api/v1/problems/escalation-refused"
# What a change may answer besides the escalation: unknown, refused by its state, unworkable.
CHANGE_PROBLEMS = (404, 409, 422)


def _answer(escalation_id: int) -> EscalationWithHistory | Response:
    deps = current()
    with read_transaction(deps.session_factory) as session:
        row = escalation_detail(session, escalation_id, now=deps.clock.now())
    if row is None:
        return status_problem(404, f"no escalation {escalation_id}")
    return EscalationWithHistory.of_detail(row)


def _changed(
    escalation_id: int, change: Callable[[Session], object]
) -> EscalationWithHistory | Response:
    """Run ``change`` in one transaction and answer the escalation as it now stands."""
    try:
        with transaction(current().session_factory) as session:
            change(session)
    except UnknownEscalation:
        return status_problem(404, f"no escalation {escalation_id}")
    except MoveRefused as exc:
        return _refused(exc)
    except UnknownStaff as exc:
        return problem(422, "Unknown engineer", str(exc), field="engineer")
    except ValueError as exc:
        return status_problem(422, str(exc))
    return _answer(escalation_id)


def _refused(exc: MoveRefused) -> Response:
    return problem(
        409,
        "Escalation not in a state for that",
        str(exc),
        problem_type=REFUSED_TYPE,
        current_status=exc.status.value,
        reasons=exc.reasons,
    )


@bp.get("")
@roles_allowed(*STAFF)
@documented(response=EscalationList, query=EscalationListQuery, tags=TAGS)
def list_escalations(query: EscalationListQuery) -> EscalationList:
    """Escalations, highest priority first, then oldest; filtered by status and region."""
    deps = current()
    status = None if query.status is None else query.status.value
    with read_transaction(deps.session_factory) as session:
        rows = list_rows(session, now=deps.clock.now(), status=status, region=query.region)
    return EscalationList(escalations=[EscalationOut.of(r) for r in rows])


@bp.get("/<int:escalation_id>")
@roles_allowed(*STAFF)
@documented(response=EscalationWithHistory, path=EscalationPath, problems=(404,), tags=TAGS)
def get_escalation(path: EscalationPath) -> EscalationWithHistory | Response:
    """One escalation with its plans, vendor cases and whole history."""
    return _answer(path.escalation_id)


@bp.post("")
@roles_allowed(*STAFF)
@documented(response=EscalationWithHistory, body=RaiseBody, problems=(422,), tags=TAGS)
def raise_one(body: RaiseBody) -> EscalationWithHistory | Response:
    """Escalate an SR: the region's managers are told by e-mail and its duty managers rung one
    after another until one accepts. An SR already escalated keeps its one escalation: the
    request joins it (a ``raised_again`` event)."""
    deps = current()
    try:
        with transaction(deps.session_factory) as session:
            escalation, _ = raise_and_ring(
                session,
                catalog=deps.catalog,
                sr_number=body.sr_number,
                reason=body.reason,
                reason_text=body.reason_text,
                by=Actor.of(signed_in()),
                raised_by_kind="staff",
                now=deps.clock.now(),
            )
            escalation_id = escalation.id
    except UnknownServiceRequest as exc:
        return problem(422, "Unknown SR", str(exc), field="sr_number")
    return _answer(escalation_id)


def _change(
    path: EscalationPath, change: Callable[[Session, Actor], object]
) -> EscalationWithHistory | Response:
    me = Actor.of(signed_in())
    return _changed(path.escalation_id, lambda session: change(session, me))


@bp.post("/<int:escalation_id>/accept")
@roles_allowed(*MANAGERS)
@documented(
    response=EscalationWithHistory, path=EscalationPath, problems=CHANGE_PROBLEMS, tags=TAGS
)
def accept(path: EscalationPath) -> EscalationWithHistory | Response:
    """Take the escalation as duty manager; 409 "already accepted by <name>" when taken."""
    me, now = signed_in(), current().clock.now()
    return _changed(
        path.escalation_id, lambda s: accept_escalation(s, path.escalation_id, by=me, now=now)
    )


@bp.post("/<int:escalation_id>/engineer")
@roles_allowed(*MANAGERS)
@documented(
    response=EscalationWithHistory,
    path=EscalationPath,
    body=EngineerBody,
    problems=CHANGE_PROBLEMS,
    tags=TAGS,
)
def engineer(path: EscalationPath, body: EngineerBody) -> EscalationWithHistory | Response:
    """Assign the escalation engineer, the customer's primary contact."""
    now = current().clock.now()
    return _change(
        path,
        lambda s, me: assign_engineer(
            s, path.escalation_id, engineer=body.engineer, by=me, now=now
        ),
    )


@bp.post("/<int:escalation_id>/action-plan")
@roles_allowed(*STAFF)
@documented(
    response=EscalationWithHistory,
    path=EscalationPath,
    body=ActionPlanBody,
    problems=CHANGE_PROBLEMS,
    tags=TAGS,
)
def action_plan(path: EscalationPath, body: ActionPlanBody) -> EscalationWithHistory | Response:
    """Record the action plan agreed in the conference call (a new version each time)."""
    now = current().clock.now()
    steps = [PlanStep(s.text, s.owner, s.due_at) for s in body.steps]
    return _change(
        path,
        lambda s, me: agree_action_plan(
            s, path.escalation_id, steps=steps, participants=body.participants, by=me, now=now
        ),
    )


@bp.post("/<int:escalation_id>/communication-plan")
@roles_allowed(*STAFF)
@documented(
    response=EscalationWithHistory,
    path=EscalationPath,
    body=CommunicationPlanBody,
    problems=CHANGE_PROBLEMS,
    tags=TAGS,
)
def communication_plan(
    path: EscalationPath, body: CommunicationPlanBody
) -> EscalationWithHistory | Response:
    """Agree how and how often the customer hears of progress."""
    now = current().clock.now()
    return _change(
        path,
        lambda s, me: set_communication_plan(
            s,
            path.escalation_id,
            kind=body.kind,
            every=timedelta(minutes=body.every_minutes),
            participants=body.participants,
            by=me,
            now=now,
        ),
    )


@bp.post("/<int:escalation_id>/updates")
@roles_allowed(*STAFF)
@documented(
    response=EscalationWithHistory,
    path=EscalationPath,
    body=UpdateBody,
    problems=CHANGE_PROBLEMS,
    tags=TAGS,
)
def update(path: EscalationPath, body: UpdateBody) -> EscalationWithHistory | Response:
    """Record an update given to the customer; the next is due one period on."""
    now = current().clock.now()
    return _change(
        path,
        lambda s, me: record_update(s, path.escalation_id, summary=body.summary, by=me, now=now),
    )


@bp.post("/<int:escalation_id>/vendors")
@roles_allowed(*STAFF)
@documented(
    response=EscalationWithHistory,
    path=EscalationPath,
    body=VendorBody,
    problems=CHANGE_PROBLEMS,
    tags=TAGS,
)
def vendors(path: EscalationPath, body: VendorBody) -> EscalationWithHistory | Response:
    """Record another vendor's case (TSANet or the customer's contract), or its new status."""
    now = current().clock.now()
    return _change(
        path,
        lambda s, me: track_vendor_case(
            s,
            path.escalation_id,
            vendor=body.vendor,
            case_number=body.case_number,
            status=body.status,
            via=body.via,
            by=me,
            now=now,
        ),
    )


@bp.post("/<int:escalation_id>/conference")
@roles_allowed(*STAFF)
@documented(
    response=Conference,
    status=202,
    path=EscalationPath,
    body=ConferenceBody,
    problems=CHANGE_PROBLEMS,
    tags=TAGS,
)
def conference(path: EscalationPath, body: ConferenceBody) -> Conference | Response:
    """Dial the participants into the escalation's conference call (202: their phones ring
    shortly); with one open, they are added to it. The answer has its PIN and dial-in number."""
    deps = current()
    invitees = [Invitee(ParticipantKind(p.role), p.number, p.name) for p in body.participants]
    try:
        with transaction(deps.session_factory) as session:
            view = start_conference(
                session,
                path.escalation_id,
                invitees=invitees,
                by=Actor.of(signed_in()),
                now=deps.clock.now(),
                catalog=deps.catalog,
            )
    except UnknownEscalation:
        return status_problem(404, f"no escalation {path.escalation_id}")
    except MoveRefused as exc:
        return _refused(exc)
    except ParticipantRefused as exc:
        return problem(422, "Participant cannot be dialled", str(exc), field=exc.field)
    return Conference.of(view)


@bp.post("/<int:escalation_id>/re-escalate")
@roles_allowed(*STAFF)
@documented(
    response=EscalationWithHistory,
    path=EscalationPath,
    body=ReEscalateBody,
    problems=CHANGE_PROBLEMS,
    tags=TAGS,
)
def re_escalate_one(path: EscalationPath, body: ReEscalateBody) -> EscalationWithHistory | Response:
    """The customer is unhappy with progress: priority up, engineer and managers told."""
    now = current().clock.now()
    return _change(
        path, lambda s, me: re_escalate(s, path.escalation_id, reason=body.reason, by=me, now=now)
    )


@bp.post("/<int:escalation_id>/conditions")
@roles_allowed(*STAFF)
@documented(
    response=EscalationWithHistory,
    path=EscalationPath,
    body=ConditionBody,
    problems=CHANGE_PROBLEMS,
    tags=TAGS,
)
def conditions(path: EscalationPath, body: ConditionBody) -> EscalationWithHistory | Response:
    """Record one of the three de-escalation conditions."""
    now = current().clock.now()
    return _change(
        path,
        lambda s, me: record_condition(
            s,
            path.escalation_id,
            condition=body.condition,
            by=me,
            now=now,
            customer_contact=body.customer_contact,
            how=body.how,
        ),
    )


@bp.post("/<int:escalation_id>/de-escalate")
@roles_allowed(*MANAGERS)
@documented(
    response=EscalationWithHistory,
    path=EscalationPath,
    body=DeEscalateBody,
    problems=CHANGE_PROBLEMS,
    tags=TAGS,
)
def de_escalate_one(path: EscalationPath, body: DeEscalateBody) -> EscalationWithHistory | Response:
    """End the escalation; 409 naming every condition still missing."""
    now = current().clock.now()
    return _change(
        path, lambda s, me: de_escalate(s, path.escalation_id, by=me, now=now, note=body.note)
    )
