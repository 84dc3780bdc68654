"""The duty managers' ring chain as pure decisions: who next, and what each report means."""

from __future__ import annotations

import pytest

from escalations.records import EscalationStatus, RingOutcome
from escalations.ring_chain import (
    MAX_KEY_TRIES,
    ManagerAnswered,
    ManagerKey,
    ManagerLegEnded,
    NextRing,
    Reply,
    RingDecision,
    RingFacts,
    next_ring,
    ring_decision,
)

RAISED, UNOWNED, ACCEPTED, ENDED = (
    EscalationStatus.RAISED,
    EscalationStatus.UNOWNED,
    EscalationStatus.ACCEPTED,
    EscalationStatus.DE_ESCALATED,
)
CURRENT = RingFacts(RAISED, is_current=True)
EARLIER = RingFacts(RAISED, is_current=False)  # given up on (a pass, the backstop) but rung


@pytest.mark.parametrize(
    ("plan_size", "rounds", "last_seq", "expected"),
    [
        (3, 2, 0, NextRing(1, 1, 0)),
        (3, 2, 1, NextRing(2, 1, 1)),
        (3, 2, 2, NextRing(3, 1, 2)),
        (3, 2, 3, NextRing(4, 2, 0)),  # the second round starts with the first person again
        (3, 2, 5, NextRing(6, 2, 2)),
        (3, 2, 6, None),  # every round rung: flagged unowned
        (1, 3, 2, NextRing(3, 3, 0)),
        (1, 3, 3, None),
        (0, 2, 0, None),  # nobody to ring at all
    ],
)
def test_the_chain_rings_each_person_in_turn_round_after_round(
    plan_size, rounds, last_seq, expected
) -> None:
    assert next_ring(plan_size=plan_size, rounds=rounds, last_seq=last_seq) == expected


MOVE_ON = {"advance": True}
CASES = [
    # The current ring, the escalation waiting for an owner.
    (CURRENT, ManagerAnswered(), RingDecision(Reply.SUMMARY)),
    (CURRENT, ManagerAnswered(answered_by="human"), RingDecision(Reply.SUMMARY)),
    (CURRENT, ManagerAnswered(answered_by="unknown"), RingDecision(Reply.SUMMARY)),
    (
        CURRENT,
        ManagerAnswered(answered_by="machine_start"),
        RingDecision(Reply.HANG_UP, RingOutcome.MACHINE, **MOVE_ON),
    ),
    (CURRENT, ManagerAnswered(tries=2), RingDecision(Reply.ASK_AGAIN)),
    (CURRENT, ManagerAnswered(tries=MAX_KEY_TRIES), RingDecision(Reply.ASK_AGAIN)),
    (
        CURRENT,
        ManagerAnswered(tries=MAX_KEY_TRIES + 1),
        RingDecision(Reply.NO_KEY, RingOutcome.NO_ANSWER, **MOVE_ON),
    ),
    (CURRENT, ManagerKey("1"), RingDecision(Reply.ACCEPTED, RingOutcome.ACCEPTED, accept=True)),
    (CURRENT, ManagerKey("2"), RingDecision(Reply.PASSED, RingOutcome.PASSED, **MOVE_ON)),
    (CURRENT, ManagerKey("3"), RingDecision(Reply.SUMMARY)),
    (CURRENT, ManagerKey("9"), RingDecision(Reply.ASK_AGAIN)),
    (CURRENT, ManagerKey(""), RingDecision(Reply.ASK_AGAIN)),
    (
        CURRENT,
        ManagerKey("9", tries=MAX_KEY_TRIES),
        RingDecision(Reply.NO_KEY, RingOutcome.NO_ANSWER, **MOVE_ON),
    ),
    (CURRENT, ManagerLegEnded("busy"), RingDecision(Reply.GONE, RingOutcome.BUSY, **MOVE_ON)),
    (
        CURRENT,
        ManagerLegEnded("no-answer"),
        RingDecision(Reply.GONE, RingOutcome.NO_ANSWER, **MOVE_ON),
    ),
    (
        CURRENT,
        ManagerLegEnded("failed"),
        RingDecision(Reply.GONE, RingOutcome.NO_ANSWER, **MOVE_ON),
    ),
    (
        CURRENT,
        ManagerLegEnded("completed"),
        RingDecision(Reply.GONE, RingOutcome.NO_ANSWER, **MOVE_ON),
    ),
    (CURRENT, ManagerLegEnded("ringing"), RingDecision(Reply.GONE)),
    (CURRENT, ManagerLegEnded("in-progress"), RingDecision(Reply.GONE)),
    # A ring already given up on: a late pick-up may still accept, nothing else moves the chain.
    (EARLIER, ManagerAnswered(), RingDecision(Reply.SUMMARY)),
    (EARLIER, ManagerKey("1"), RingDecision(Reply.ACCEPTED, RingOutcome.ACCEPTED, accept=True)),
    (EARLIER, ManagerKey("2"), RingDecision(Reply.PASSED)),
    (EARLIER, ManagerAnswered(answered_by="machine_end_beep"), RingDecision(Reply.HANG_UP)),
    (EARLIER, ManagerAnswered(tries=MAX_KEY_TRIES + 1), RingDecision(Reply.NO_KEY)),
    (EARLIER, ManagerLegEnded("no-answer"), RingDecision(Reply.GONE)),
    (EARLIER, ManagerLegEnded("completed"), RingDecision(Reply.GONE)),
    # Flagged unowned after the last round: anyone rung may still take it.
    (
        RingFacts(UNOWNED, is_current=False),
        ManagerKey("1"),
        RingDecision(Reply.ACCEPTED, RingOutcome.ACCEPTED, accept=True),
    ),
    # Accepted by someone else meanwhile: "already accepted by <name>".
    (
        RingFacts(ACCEPTED, is_current=True),
        ManagerAnswered(),
        RingDecision(Reply.TAKEN, RingOutcome.TOO_LATE),
    ),
    (
        RingFacts(ACCEPTED, is_current=True),
        ManagerKey("1"),
        RingDecision(Reply.TAKEN, RingOutcome.TOO_LATE),
    ),
    (RingFacts(ACCEPTED, is_current=False), ManagerKey("1"), RingDecision(Reply.TAKEN)),
    (RingFacts(ACCEPTED, is_current=False), ManagerKey("2"), RingDecision(Reply.TAKEN)),
    (
        RingFacts(ACCEPTED, is_current=True),
        ManagerLegEnded("no-answer"),
        RingDecision(Reply.GONE, RingOutcome.TOO_LATE),
    ),
    (RingFacts(ACCEPTED, is_current=False), ManagerLegEnded("completed"), RingDecision(Reply.GONE)),
    # The owner's own key again (Twilio retried the request): the same answer, nothing new.
    (
        RingFacts(ACCEPTED, is_current=False, is_owner=True),
        ManagerKey("1"),
        RingDecision(Reply.ACCEPTED),
    ),
    # De-escalated: nothing waits.
    (RingFacts(ENDED, is_current=False), ManagerKey("1"), RingDecision(Reply.GONE)),
    (
        RingFacts(ENDED, is_current=True),
        ManagerAnswered(),
        RingDecision(Reply.GONE, RingOutcome.TOO_LATE),
    ),
]


@pytest.mark.parametrize(("facts", "report", "expected"), CASES)
def test_each_report_has_one_meaning(facts, report, expected) -> None:
    assert ring_decision(facts, report) == expected


def test_only_the_current_ring_moves_the_chain() -> None:
    for facts, report, _ in CASES:
        decided = ring_decision(facts, report)
        if decided.advance:
            assert facts.is_current
            assert facts.status is RAISED
        if decided.outcome is not None and decided.outcome is not RingOutcome.ACCEPTED:
            assert facts.is_current
