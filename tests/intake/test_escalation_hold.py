"""The escalation hold's decisions as tables: who holds, and what each round of the hold says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from intake.call_steps import Say
from intake.escalation_hold import (
    HOLD_ROUND_SECONDS,
    RINGING_EVERY_SECONDS,
    HoldOutcome,
    HoldRound,
    hold_round,
    holds_for_duty_manager,
)
from intake.ports import CallEscalation, EscalationState

RAISED_AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
HOLD = timedelta(seconds=120)
PROMISE = "15 Minuten"
RINGING = Say("escalation_hold_ringing")
CALL_BACK = (Say("escalation_hold_call_back", values={"promise": PROMISE}), Say("goodbye"))


def escalation(state: str = "raised", owner: str | None = None) -> CallEscalation:
    return CallEscalation(
        escalation_id=7, state=EscalationState(state), raised_at=RAISED_AT, owner_name=owner
    )


def after(seconds: float) -> datetime:
    return RAISED_AT + timedelta(seconds=seconds)


# fmt: off
STARTS = [
    pytest.param(escalation(), 0, HOLD, True, True, id="new-raised-escalation-holds"),
    pytest.param(escalation(), 119, HOLD, True, True, id="settled-late-within-the-hold"),
    pytest.param(escalation(), 120, HOLD, True, False, id="settled-after-the-hold-is-up"),
    pytest.param(escalation(), 0, timedelta(0), True, False, id="hold-seconds-0-never-holds"),
    pytest.param(escalation(), 0, HOLD, False, False, id="no-call-back-queued-no-hold"),
    pytest.param(None, 0, HOLD, True, False, id="logged-on-an-escalation-raised-earlier"),
    pytest.param(escalation("accepted", "mia"), 0, HOLD, True, False, id="already-accepted"),
    pytest.param(escalation("unowned"), 0, HOLD, True, False, id="already-flagged-unowned"),
    pytest.param(escalation("closed"), 0, HOLD, True, False, id="already-closed"),
]
# fmt: on


@pytest.mark.parametrize(("escalation_", "seconds", "hold", "has_call_back", "holds"), STARTS)
def test_only_a_caller_whose_new_escalation_is_still_raised_holds_for_a_duty_manager(
    escalation_: CallEscalation | None,
    seconds: int,
    hold: timedelta,
    has_call_back: bool,
    holds: bool,
) -> None:
    decided = holds_for_duty_manager(
        escalation_, now=after(seconds), hold=hold, has_call_back=has_call_back
    )
    assert decided is holds


def holding(says: tuple[Say, ...], pause: int, said_at: int | None) -> HoldRound:
    return HoldRound(HoldOutcome.HOLD, says, pause, said_at)


# fmt: off
ROUNDS = [
    # -- still ringing: a pause, and "still ringing" about every 30 s, not every round
    pytest.param(escalation(), 8, 0, holding((), HOLD_ROUND_SECONDS, 0),
                 id="ringing-right-after-the-start-is-quiet"),
    pytest.param(escalation(), 29, 0, holding((), HOLD_ROUND_SECONDS, 0),
                 id="ringing-before-30-s-is-quiet"),
    pytest.param(escalation(), 30, 0, holding((RINGING,), HOLD_ROUND_SECONDS, 30),
                 id="ringing-after-30-s-says-still-ringing"),
    pytest.param(escalation(), 50, 30, holding((), HOLD_ROUND_SECONDS, 30),
                 id="ringing-20-s-after-the-last-reminder-is-quiet"),
    pytest.param(escalation(), 65, 30, holding((RINGING,), HOLD_ROUND_SECONDS, 65),
                 id="ringing-35-s-after-the-last-reminder-says-it-again"),
    pytest.param(escalation(), 12, None, holding((RINGING,), HOLD_ROUND_SECONDS, 12),
                 id="ringing-without-a-reminder-on-record-says-it"),
    pytest.param(escalation(), 115, 100, holding((), 5, 100),
                 id="the-last-round-pauses-only-until-the-hold-ends"),
    # -- the time is up: the call back promise
    pytest.param(escalation(), 120, 90, HoldRound(HoldOutcome.CALL_BACK, CALL_BACK),
                 id="ringing-when-the-hold-ends-promises-the-call-back"),
    pytest.param(escalation(), 600, 90, HoldRound(HoldOutcome.CALL_BACK, CALL_BACK),
                 id="a-late-poll-promises-the-call-back"),
    # -- a duty manager accepted: who, and that the caller is called back
    pytest.param(escalation("accepted", "Mia Schneider"), 40, 30,
                 HoldRound(HoldOutcome.ACCEPTED, (
                     Say("escalation_hold_accepted",
                         values={"name": "Mia Schneider", "promise": PROMISE}),
                     Say("goodbye"))),
                 id="accepted-names-the-duty-manager"),
    pytest.param(escalation("accepted", "Mia Schneider"), 600, 90,
                 HoldRound(HoldOutcome.ACCEPTED, (
                     Say("escalation_hold_accepted",
                         values={"name": "Mia Schneider", "promise": PROMISE}),
                     Say("goodbye"))),
                 id="accepted-is-told-even-after-the-hold-is-up"),
    pytest.param(escalation("accepted", None), 40, 30, HoldRound(HoldOutcome.CALL_BACK, CALL_BACK),
                 id="accepted-by-nobody-on-file-promises-the-call-back"),
    # -- nobody accepted: flagged unowned (or closed) ends the hold with the promise
    pytest.param(escalation("unowned"), 40, 30, HoldRound(HoldOutcome.CALL_BACK, CALL_BACK),
                 id="unowned-promises-the-call-back"),
    pytest.param(escalation("closed"), 40, 30, HoldRound(HoldOutcome.CALL_BACK, CALL_BACK),
                 id="closed-promises-the-call-back"),
    # -- no escalation on this call: nothing to promise
    pytest.param(None, 40, 30, HoldRound(HoldOutcome.GOODBYE, (Say("goodbye"),)),
                 id="no-escalation-says-goodbye"),
]
# fmt: on


@pytest.mark.parametrize(("escalation_", "seconds", "said_at", "expected"), ROUNDS)
def test_a_round_of_the_hold_keeps_holding_names_who_accepted_or_promises_the_call_back(
    escalation_: CallEscalation | None, seconds: int, said_at: int | None, expected: HoldRound
) -> None:
    decided = hold_round(
        escalation_, now=after(seconds), hold=HOLD, ringing_said_at=said_at, promise=PROMISE
    )
    assert decided == expected


def test_a_whole_hold_nobody_takes_says_still_ringing_every_30_s_and_ends_on_time() -> None:
    said_at: int | None = 0
    seconds = 0
    heard: list[tuple[int, Any]] = []
    while True:
        decided = hold_round(
            escalation(), now=after(seconds), hold=HOLD, ringing_said_at=said_at, promise=PROMISE
        )
        heard.extend((seconds, say.key) for say in decided.says)
        if decided.outcome is not HoldOutcome.HOLD:
            break
        said_at = decided.ringing_said_at
        seconds += decided.pause_seconds
    reminders = [at for at, key in heard if key == "escalation_hold_ringing"]
    assert reminders == [32, 64, 96]
    assert all(b - a >= RINGING_EVERY_SECONDS for a, b in pairwise([0, *reminders]))
    assert heard[-2:] == [(120, "escalation_hold_call_back"), (120, "goodbye")]
