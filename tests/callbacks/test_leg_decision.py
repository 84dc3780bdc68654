"""What each webhook of the agent's call means, as a table: (stage, answered by, report) ->
(reply, move, disposition, what is stored)."""

from __future__ import annotations

import pytest

from callbacks.calls import (
    MAX_KEY_TRIES,
    AgentAnswered,
    AgentKey,
    AgentLegEnded,
    CustomerAnswered,
    DialEnded,
    LegDecision,
    LegFacts,
    LegReport,
    Reply,
    Stage,
    leg_decision,
    stage_of,
)
from callbacks.lifecycle import Disposition, Move
from callbacks.models import CallbackStatus

RING, DIAL, OVER = Stage.RINGING_AGENT, Stage.DIALLING_CUSTOMER, Stage.OVER
NA, BUSY, MACHINE = Disposition.NO_ANSWER, Disposition.BUSY, Disposition.ANSWERING_MACHINE

TABLE: list[tuple[str, Stage, str | None, LegReport, LegDecision]] = [
    # -- the agent picks up and hears the summary, then the question up to three times
    ("answer: the whisper", RING, None, AgentAnswered(1), LegDecision(Reply.WHISPER)),
    ("silence: asked again", RING, None, AgentAnswered(2), LegDecision(Reply.ASK_AGAIN)),
    ("silence: the last try", RING, None, AgentAnswered(3), LegDecision(Reply.ASK_AGAIN)),
    ("silence: given up", RING, None, AgentAnswered(4), LegDecision(Reply.NO_KEY)),
    # -- the agent's key
    (
        "1 dials the customer",
        RING,
        None,
        AgentKey("1"),
        LegDecision(Reply.DIAL_CUSTOMER, Move.AGENT_ACCEPTED),
    ),
    ("2 releases", RING, None, AgentKey("2"), LegDecision(Reply.RELEASED, Move.AGENT_DECLINED)),
    ("another key: asked again", RING, None, AgentKey("7", 1), LegDecision(Reply.ASK_AGAIN)),
    ("a wrong key at the last try", RING, None, AgentKey("9", 3), LegDecision(Reply.NO_KEY)),
    ("1 twice (a retried request)", DIAL, None, AgentKey("1"), LegDecision(Reply.DIAL_CUSTOMER)),
    ("2 after 1: too late", DIAL, None, AgentKey("2"), LegDecision(Reply.GONE)),
    ("a key for an older call", OVER, None, AgentKey("1"), LegDecision(Reply.GONE)),
    ("the answer of an older call", OVER, None, AgentAnswered(1), LegDecision(Reply.GONE)),
    # -- the agent's call ends before a key: released
    *[
        (
            f"agent leg {status} while ringing",
            RING,
            None,
            AgentLegEnded(status),
            LegDecision(Reply.RELEASED, Move.AGENT_DECLINED),
        )
        for status in ("no-answer", "busy", "failed", "canceled", "completed")
    ],
    ("agent leg ringing: progress", RING, None, AgentLegEnded("ringing"), LegDecision(Reply.GONE)),
    (
        "agent leg in progress",
        RING,
        None,
        AgentLegEnded("in-progress"),
        LegDecision(Reply.GONE),
    ),
    ("agent hung up after 1", DIAL, None, AgentLegEnded("completed"), LegDecision(Reply.GONE)),
    ("a late status", OVER, None, AgentLegEnded("no-answer"), LegDecision(Reply.GONE)),
    # -- the customer answers: screened
    (
        "a person",
        DIAL,
        None,
        CustomerAnswered("human"),
        LegDecision(Reply.BRIDGE, store_answered_by="human"),
    ),
    (
        "unknown: treated as a person",
        DIAL,
        None,
        CustomerAnswered("unknown"),
        LegDecision(Reply.BRIDGE, store_answered_by="unknown"),
    ),
    (
        "a machine",
        DIAL,
        None,
        CustomerAnswered("machine_start"),
        LegDecision(Reply.HANG_UP_CUSTOMER, store_answered_by="machine_start"),
    ),
    (
        "a fax",
        DIAL,
        None,
        CustomerAnswered("fax"),
        LegDecision(Reply.HANG_UP_CUSTOMER, store_answered_by="fax"),
    ),
    (
        "a person, older call: nothing stored",
        OVER,
        None,
        CustomerAnswered("human"),
        LegDecision(Reply.BRIDGE),
    ),
    (
        "a machine, older call",
        OVER,
        None,
        CustomerAnswered("machine_start"),
        LegDecision(Reply.HANG_UP_CUSTOMER),
    ),
    # -- the Dial to the customer ends
    (
        "talked to a person",
        DIAL,
        "human",
        DialEnded("completed"),
        LegDecision(Reply.REACHED, Move.CUSTOMER_REACHED),
    ),
    (
        "completed, never screened",
        DIAL,
        None,
        DialEnded("completed"),
        LegDecision(Reply.REACHED, Move.CUSTOMER_REACHED),
    ),
    (
        "a machine answered",
        DIAL,
        "machine_start",
        DialEnded("completed"),
        LegDecision(Reply.NOT_REACHED, Move.CUSTOMER_NOT_REACHED, MACHINE),
    ),
    (
        "busy",
        DIAL,
        None,
        DialEnded("busy"),
        LegDecision(Reply.NOT_REACHED, Move.CUSTOMER_NOT_REACHED, BUSY),
    ),
    *[
        (
            f"dial {status}",
            DIAL,
            None,
            DialEnded(status),
            LegDecision(Reply.NOT_REACHED, Move.CUSTOMER_NOT_REACHED, NA),
        )
        for status in ("no-answer", "failed", "canceled")
    ],
    ("a Dial status Twilio never sends", DIAL, None, DialEnded("odd"), LegDecision(Reply.GONE)),
    ("a Dial outcome before any Dial", RING, None, DialEnded("busy"), LegDecision(Reply.GONE)),
    ("a duplicated Dial outcome", OVER, "human", DialEnded("completed"), LegDecision(Reply.GONE)),
]


@pytest.mark.parametrize(
    ("stage", "answered_by", "report", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in TABLE],
)
def test_each_leg_report_means_one_decision(
    stage: Stage, answered_by: str | None, report: LegReport, expected: LegDecision
) -> None:
    assert leg_decision(LegFacts(stage, answered_by), report) == expected


def test_the_question_is_asked_at_most_three_times() -> None:
    assert MAX_KEY_TRIES == 3


@pytest.mark.parametrize(
    ("status", "call_seq", "reported", "last_action", "expected"),
    [
        (CallbackStatus.CALLING, 2, 2, "start_call", RING),
        (CallbackStatus.CALLING, 2, 2, "agent_accepted", DIAL),
        (CallbackStatus.CALLING, 2, 1, "start_call", OVER),  # an older call
        (CallbackStatus.CALLING, 2, 3, "start_call", OVER),  # a call never started
        (CallbackStatus.QUEUED, 2, 2, "agent_declined", OVER),
        (CallbackStatus.CLAIMED, 2, 2, "customer_reached", OVER),
        (CallbackStatus.UNREACHABLE, 2, 2, "customer_not_reached", OVER),
    ],
)
def test_the_stage_of_a_call_follows_the_callbacks_status_and_last_move(
    status: CallbackStatus, call_seq: int, reported: int, last_action: str, expected: Stage
) -> None:
    assert (
        stage_of(status, call_seq=call_seq, reported_seq=reported, last_action=last_action)
        == expected
    )
