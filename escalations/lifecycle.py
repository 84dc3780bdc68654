"""An escalation's moves, and the three conditions without which it may not end.

raised -> accepted (first accept wins) -> de_escalated, only once the action plan is confirmed
satisfactory, the troubleshooting / root-cause analysis is on track and the customer's agreement
is documented (seed: "Deeskalation nur, wenn ..."). raised -> unowned when nobody accepted in
time; an unowned escalation can still be accepted. Pure: the services apply these decisions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from escalations.records import EscalationStatus

R, U, A = EscalationStatus.RAISED, EscalationStatus.UNOWNED, EscalationStatus.ACCEPTED


class EscalationMove(enum.StrEnum):
    """Something done to an escalation."""

    ACCEPT = "accept"
    FLAG_UNOWNED = "flag_unowned"
    ASSIGN_ENGINEER = "assign_engineer"
    AGREE_ACTION_PLAN = "agree_action_plan"
    SET_COMMUNICATION_PLAN = "set_communication_plan"
    RECORD_UPDATE = "record_update"
    TRACK_VENDOR_CASE = "track_vendor_case"
    RE_ESCALATE = "re_escalate"
    RECORD_CONDITION = "record_condition"
    DE_ESCALATE = "de_escalate"
    START_CONFERENCE = "start_conference"
    ADD_TO_CONFERENCE = "add_to_conference"


# Work on an escalation needs an owner; re-escalation is possible whenever it is open.
ALLOWED_FROM: dict[EscalationMove, frozenset[EscalationStatus]] = {
    EscalationMove.ACCEPT: frozenset({R, U}),
    EscalationMove.FLAG_UNOWNED: frozenset({R}),
    EscalationMove.ASSIGN_ENGINEER: frozenset({A}),
    EscalationMove.AGREE_ACTION_PLAN: frozenset({A}),
    EscalationMove.SET_COMMUNICATION_PLAN: frozenset({A}),
    EscalationMove.RECORD_UPDATE: frozenset({A}),
    EscalationMove.TRACK_VENDOR_CASE: frozenset({A}),
    EscalationMove.RE_ESCALATE: frozenset({R, U, A}),
    EscalationMove.RECORD_CONDITION: frozenset({A}),
    EscalationMove.DE_ESCALATE: frozenset({A}),
    EscalationMove.START_CONFERENCE: frozenset({A}),
    EscalationMove.ADD_TO_CONFERENCE: frozenset({A}),
}


class Condition(enum.StrEnum):
    """The three things a de-escalation needs recorded."""

    PLAN_SATISFACTORY = "plan_satisfactory"
    ANALYSIS_ON_TRACK = "analysis_on_track"
    CUSTOMER_AGREED = "customer_agreed"


CONDITION_TEXT = {
    Condition.PLAN_SATISFACTORY: "the action plan is not confirmed satisfactory",
    Condition.ANALYSIS_ON_TRACK: "troubleshooting / root-cause analysis is not recorded on track",
    Condition.CUSTOMER_AGREED: "the customer's agreement (who, when, how) is not documented",
}


class MoveRefused(Exception):
    """The move is not possible now; ``reasons`` say every reason why."""

    def __init__(self, move: EscalationMove, status: EscalationStatus, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.move = move
        self.status = status
        self.reasons = reasons


@dataclass(frozen=True)
class Conditions:
    """When each de-escalation condition was recorded, if it was."""

    plan_satisfactory_at: datetime | None
    analysis_on_track_at: datetime | None
    customer_agreed_at: datetime | None


def missing_conditions(conditions: Conditions) -> list[Condition]:
    """The de-escalation conditions not recorded yet, in the seed's order."""
    recorded = {
        Condition.PLAN_SATISFACTORY: conditions.plan_satisfactory_at,
        Condition.ANALYSIS_ON_TRACK: conditions.analysis_on_track_at,
        Condition.CUSTOMER_AGREED: conditions.customer_agreed_at,
    }
    return [condition for condition, at in recorded.items() if at is None]


def decide_escalation_move(
    move: EscalationMove,
    status: EscalationStatus,
    *,
    owner: str | None = None,
    conditions: Conditions | None = None,
) -> EscalationStatus:
    """The status after ``move``; raises ``MoveRefused`` naming every reason it is refused."""
    if status not in ALLOWED_FROM[move]:
        if move is EscalationMove.ACCEPT and status is A:
            raise MoveRefused(move, status, [f"already accepted by {owner or 'someone'}"])
        allowed = ", ".join(sorted(s.value for s in ALLOWED_FROM[move]))
        raise MoveRefused(
            move, status, [f"cannot {move.value} an escalation that is {status.value} ({allowed})"]
        )
    if move is EscalationMove.ACCEPT:
        return A
    if move is EscalationMove.FLAG_UNOWNED:
        return U
    if move is EscalationMove.DE_ESCALATE:
        missing = missing_conditions(conditions or Conditions(None, None, None))
        if missing:
            raise MoveRefused(move, status, [CONDITION_TEXT[c] for c in missing])
        return EscalationStatus.DE_ESCALATED
    return status
