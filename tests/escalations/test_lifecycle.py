"""An escalation's moves and its three de-escalation conditions, as tables (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from escalations.lifecycle import (
    ALLOWED_FROM,
    Conditions,
    EscalationMove,
    MoveRefused,
    decide_escalation_move,
    missing_conditions,
)
from escalations.records import EscalationStatus as S

AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
ALL = Conditions(AT, AT, AT)


@pytest.mark.parametrize(
    ("move", "status", "after"),
    [
        (EscalationMove.ACCEPT, S.RAISED, S.ACCEPTED),
        (EscalationMove.ACCEPT, S.UNOWNED, S.ACCEPTED),
        (EscalationMove.FLAG_UNOWNED, S.RAISED, S.UNOWNED),
        (EscalationMove.RE_ESCALATE, S.RAISED, S.RAISED),
        (EscalationMove.RE_ESCALATE, S.ACCEPTED, S.ACCEPTED),
        (EscalationMove.ASSIGN_ENGINEER, S.ACCEPTED, S.ACCEPTED),
        (EscalationMove.DE_ESCALATE, S.ACCEPTED, S.DE_ESCALATED),
    ],
)
def test_allowed_moves_lead_where_the_process_says(
    move: EscalationMove, status: S, after: S
) -> None:
    assert decide_escalation_move(move, status, conditions=ALL) == after


FORBIDDEN = [(m, s) for m in EscalationMove for s in S if s not in ALLOWED_FROM[m]]


@pytest.mark.parametrize(("move", "status"), FORBIDDEN)
def test_other_moves_are_refused_naming_the_status(move: EscalationMove, status: S) -> None:
    with pytest.raises(MoveRefused) as refused:
        decide_escalation_move(move, status, owner="Mia", conditions=ALL)
    assert refused.value.status is status


def test_a_second_accept_names_who_accepted_first() -> None:
    with pytest.raises(MoveRefused, match="already accepted by Mia"):
        decide_escalation_move(EscalationMove.ACCEPT, S.ACCEPTED, owner="Mia")


def test_a_de_escalated_escalation_takes_no_more_moves() -> None:
    assert all(S.DE_ESCALATED not in sources for sources in ALLOWED_FROM.values())


@pytest.mark.parametrize(
    ("conditions", "missing"),
    [
        (Conditions(None, None, None), 3),
        (Conditions(AT, None, None), 2),
        (Conditions(None, AT, AT), 1),
        (Conditions(AT, AT, None), 1),
    ],
)
def test_de_escalation_is_refused_naming_every_missing_condition(
    conditions: Conditions, missing: int
) -> None:
    with pytest.raises(MoveRefused) as refused:
        decide_escalation_move(EscalationMove.DE_ESCALATE, S.ACCEPTED, conditions=conditions)
    assert len(refused.value.reasons) == missing == len(missing_conditions(conditions))
    texts = " ".join(refused.value.reasons)
    if conditions.plan_satisfactory_at is None:
        assert "action plan" in texts
    if conditions.analysis_on_track_at is None:
        assert "root-cause" in texts
    if conditions.customer_agreed_at is None:
        assert "customer's agreement" in texts
