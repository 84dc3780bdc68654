"""The escalations API's bodies as pydantic models (requests and responses)."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from escalations.conference_records import ParticipantKind
from escalations.conference_rules import ParticipantState
from escalations.conferences import ConferenceView
from escalations.lifecycle import Condition
from escalations.plans import CommunicationKind, VendorChannel
from escalations.queries import EscalationDetail, EscalationSummary
from escalations.records import EscalationReason, EscalationStatus


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Requests


class EscalationPath(BaseModel):
    """Which escalation."""

    escalation_id: int


class EscalationListQuery(BaseModel):
    """Which escalations to list."""

    status: EscalationStatus | None = None
    region: str | None = Field(default=None, max_length=40)


class RaiseBody(_Body):
    """Escalate an SR."""

    sr_number: str = Field(pattern=r"^[0-9]{4,16}$")
    reason: EscalationReason
    reason_text: str | None = Field(default=None, max_length=1000)


class EngineerBody(_Body):
    """Who becomes the primary contact."""

    engineer: str = Field(min_length=1, max_length=120, description="an engineer's user name")


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


class ConferenceParticipantBody(_Body):
    """Somebody to dial in: by role, their number on file, or (``other``) by number."""

    role: Literal["customer", "engineer", "duty_manager", "other"]
    number: str | None = Field(
        default=None,
        min_length=3,
        max_length=32,
        description="other only: E.164, or national in the escalation region's country",
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=200, description="who they are, as shown"
    )

    @model_validator(mode="after")
    def _number_for_others_only(self) -> Self:
        if self.role == "other" and self.number is None:
            raise ValueError("an other participant needs a number")
        if self.role != "other" and self.number is not None:
            raise ValueError(f"the {self.role}'s number is on file: send none")
        return self


class ConferenceBody(_Body):
    """Who is dialled into the escalation's conference call."""

    participants: list[ConferenceParticipantBody] = Field(min_length=1, max_length=20)


class DeEscalateBody(_Body):
    """A closing note."""

    note: str | None = Field(default=None, max_length=2000)


# Responses


class Escalation(BaseModel):
    """An escalation in a list."""

    id: int
    sr_number: str
    region: str
    status: EscalationStatus
    reason: EscalationReason
    priority: int = Field(description="1 normally; raised by each re-escalation")
    us_government: bool
    owner: str | None = Field(description="the duty manager who accepted it")
    engineer: str | None = Field(description="the escalation engineer, primary contact")
    created_at: AwareDatetime
    age_seconds: int
    next_update_due_at: AwareDatetime | None

    @classmethod
    def of(cls, row: EscalationSummary) -> Escalation:
        return cls(**_summary(row))


class EscalationList(BaseModel):
    """Escalations, highest priority first, then oldest."""

    escalations: list[Escalation]


class PlanStep(BaseModel):
    """One step of the action plan."""

    position: int
    text: str
    owner: str
    due_at: AwareDatetime | None


class CommunicationPlan(BaseModel):
    """How the customer hears of progress."""

    kind: CommunicationKind
    every_minutes: int
    participants: list[str]
    next_update_due_at: AwareDatetime
    last_update_at: AwareDatetime | None


class VendorCase(BaseModel):
    """Another vendor's case."""

    vendor: str
    case_number: str
    status: str
    via: VendorChannel
    updated_at: AwareDatetime


class Conditions(BaseModel):
    """The three conditions of a de-escalation, when each was recorded."""

    plan_satisfactory_at: AwareDatetime | None
    analysis_on_track_at: AwareDatetime | None
    customer_agreed_at: AwareDatetime | None
    customer_agreed_by: str | None
    customer_agreed_how: str | None


class EscalationEvent(BaseModel):
    """One entry of the append-only history."""

    at: AwareDatetime
    actor: str
    action: str
    detail: dict[str, Any]


class ConferenceParticipant(BaseModel):
    """Somebody dialled into (or dialling in to) a conference call, and their time on it."""

    id: int
    kind: ParticipantKind
    name: str
    number: str = Field(description="E.164; a dial-in caller's number masked")
    state: ParticipantState
    call_status: str | None = Field(description="how their call ended (Twilio's CallStatus)")
    added_at: AwareDatetime
    joined_at: AwareDatetime | None
    left_at: AwareDatetime | None
    seconds: int | None = Field(description="time on the conference, once they left")


class Conference(BaseModel):
    """A conference call of the escalation: where latecomers dial in, and who was on it."""

    id: int
    name: str = Field(description="the Twilio conference's name, escalation-<id>-<n>")
    pin: str = Field(description="6 digits, typed on the dial-in line")
    dial_in_number: str | None = Field(description="the region's dial-in line; null: none")
    started_by: str
    started_at: AwareDatetime
    ended_at: AwareDatetime | None
    participants: list[ConferenceParticipant]

    @classmethod
    def of(cls, view: ConferenceView) -> Conference:
        return cls(
            id=view.id,
            name=view.name,
            pin=view.pin,
            dial_in_number=view.dial_in_number,
            started_by=view.started_by,
            started_at=view.started_at,
            ended_at=view.ended_at,
            participants=[
                ConferenceParticipant(
                    id=p.id,
                    kind=ParticipantKind(p.kind),
                    name=p.name,
                    number=p.number,
                    state=p.state,
                    call_status=p.call_status,
                    added_at=p.added_at,
                    joined_at=p.joined_at,
                    left_at=p.left_at,
                    seconds=p.seconds,
                )
                for p in view.participants
            ],
        )


class EscalationWithHistory(Escalation):
    """An escalation with what was agreed and everything that happened."""

    reason_text: str | None
    raised_by: str
    raised_by_kind: str
    contact_number: str | None
    accepted_at: AwareDatetime | None
    management_informed_at: AwareDatetime | None
    conditions: Conditions
    de_escalated_at: AwareDatetime | None
    action_plan: list[PlanStep]
    communication_plan: CommunicationPlan | None
    vendor_cases: list[VendorCase]
    conferences: list[Conference]
    events: list[EscalationEvent]

    @classmethod
    def of_detail(cls, row: EscalationDetail) -> EscalationWithHistory:
        plan = row.communication_plan
        return cls(
            **_summary(row),
            reason_text=row.reason_text,
            raised_by=row.raised_by,
            raised_by_kind=row.raised_by_kind,
            contact_number=row.contact_number,
            accepted_at=row.accepted_at,
            management_informed_at=row.management_informed_at,
            conditions=Conditions(
                plan_satisfactory_at=row.plan_satisfactory_at,
                analysis_on_track_at=row.analysis_on_track_at,
                customer_agreed_at=row.customer_agreed_at,
                customer_agreed_by=row.customer_agreed_by,
                customer_agreed_how=row.customer_agreed_how,
            ),
            de_escalated_at=row.de_escalated_at,
            action_plan=[PlanStep(**vars(s)) for s in row.action_plan],
            communication_plan=None
            if plan is None
            else CommunicationPlan(
                kind=CommunicationKind(plan.kind),
                every_minutes=plan.every_minutes,
                participants=plan.participants,
                next_update_due_at=plan.next_update_due_at,
                last_update_at=plan.last_update_at,
            ),
            vendor_cases=[
                VendorCase(
                    vendor=c.vendor,
                    case_number=c.case_number,
                    status=c.status,
                    via=VendorChannel(c.via),
                    updated_at=c.updated_at,
                )
                for c in row.vendor_cases
            ],
            conferences=[Conference.of(c) for c in row.conferences],
            events=[EscalationEvent(**vars(e)) for e in row.events],
        )


def _summary(row: EscalationSummary) -> dict[str, Any]:
    return {
        "id": row.id,
        "sr_number": row.sr_number,
        "region": row.region,
        "status": EscalationStatus(row.status),
        "reason": EscalationReason(row.reason),
        "priority": row.priority,
        "us_government": row.is_us_government,
        "owner": row.owner,
        "engineer": row.engineer,
        "created_at": row.created_at,
        "age_seconds": int(row.age.total_seconds()),
        "next_update_due_at": row.next_update_due_at,
    }
