"""Turns and status callbacks decided on a read and written briefly; whatever changed in between
(a duplicate, a status callback, a first answer stored meanwhile) is refused and decided again."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from config.dependencies import Dependencies
from db.transaction import read_connection, transaction
from db.unit_of_work import Conflict, Decide, Done, Reading, Statements, Write, read_then_write
from intake.call_input import CallContext, CallerInput, TurnResult, UnknownCall
from intake.call_status import CallStatusOutcome, CallStatusReport, record_call_status
from intake.call_steps import StepName
from intake.models import Call, CallTurn, Message
from intake.turns import greet, take_turn
from tests.support.calls import GERMAN_LINE, GERMAN_MOBILE

CALL_SID = "CA" + "1" * 32
R = TypeVar("R")


def _input(digits: str | None = None) -> CallerInput:
    return CallerInput(
        call_sid=CALL_SID, to_number=GERMAN_LINE, from_number=GERMAN_MOBILE, digits=digits
    )


def _context(deps: Dependencies) -> CallContext:
    return deps.call_context(deps.clock.now())


def _turn(deps: Dependencies, inp: CallerInput, seq: int) -> Decide[TurnResult]:
    return lambda reading: take_turn(reading, inp, seq=seq, context=_context(deps))


def _status_of(deps: Dependencies, report: CallStatusReport) -> Decide[CallStatusOutcome]:
    return lambda reading: record_call_status(reading, report, context=_context(deps))


def _read(deps: Dependencies, decide: Decide[R]) -> Done[R] | Write[R] | Statements[R]:
    """What ``decide`` makes of a read, not written yet."""
    with read_connection(deps.session_factory) as connection:
        return decide(Reading(connection, is_locked=False))


def _write(deps: Dependencies, decided: Done[R] | Write[R] | Statements[R]) -> R:
    assert not isinstance(decided, Done)
    with transaction(deps.session_factory) as session:
        if isinstance(decided, Statements):
            return decided.write(session.connection())
        return decided(session)


def _report(status: str, **more: Any) -> CallStatusReport:
    return CallStatusReport(call_sid=CALL_SID, status=status, **more)


def _start(deps: Dependencies) -> None:
    """Greet the caller and store the call with its first answer (1: a new request)."""
    greet(_input(), context=_context(deps))
    read_then_write(deps.session_factory, _turn(deps, _input("1"), 1))


def _call(deps: Dependencies) -> Call:
    with transaction(deps.session_factory) as session:
        call = session.scalar(select(Call))
        assert call is not None
        return call


def _turns(deps: Dependencies) -> list[int]:
    with transaction(deps.session_factory) as session:
        return list(session.scalars(select(CallTurn.seq).order_by(CallTurn.seq)))


def test_the_greeting_stores_nothing_and_the_first_answer_stores_the_call(
    deps: Dependencies,
) -> None:
    greeting = greet(_input(), context=_context(deps))
    assert greeting.step.name is StepName.MENU
    assert _turns(deps) == []
    with transaction(deps.session_factory) as session:
        assert session.scalar(select(Call)) is None

    result = _write(deps, _read(deps, _turn(deps, _input("1"), 1)))

    assert result.step.name is StepName.CUSTOMER_NUMBER
    call = _call(deps)
    assert (call.turn, call.version, call.flow["step"]) == (2, 1, "customer_number")
    assert (call.from_number, call.to_number, call.region) == (GERMAN_MOBILE, GERMAN_LINE, "de")
    assert _turns(deps) == [0, 1]
    # A late copy of the greeting's webhook hears the greeting as it was stored.
    again = _read(deps, _turn(deps, _input(), 0))
    assert isinstance(again, Done)
    assert again.value.is_replay
    assert again.value.step == greeting.step


def test_the_call_starts_when_it_was_greeted_if_the_answer_says_so(deps: Dependencies) -> None:
    greeted = deps.clock.now()
    deps.clock.advance(timedelta(seconds=9))
    inp = replace(_input("1"), started_at=greeted)
    read_then_write(deps.session_factory, _turn(deps, inp, 1))
    call = _call(deps)
    assert call.started_at == greeted
    assert call.last_activity_at == greeted + timedelta(seconds=9)


@pytest.mark.parametrize("claimed", [timedelta(hours=5), timedelta(seconds=-30)])
def test_an_implausible_start_is_replaced_by_the_first_answer(
    deps: Dependencies, claimed: timedelta
) -> None:
    inp = replace(_input("1"), started_at=deps.clock.now() - claimed)
    read_then_write(deps.session_factory, _turn(deps, inp, 1))
    assert _call(deps).started_at == deps.clock.now()


def test_two_copies_of_the_first_answer_store_the_call_once(deps: Dependencies) -> None:
    first = _read(deps, _turn(deps, _input("1"), 1))
    second = _read(deps, _turn(deps, _input("1"), 1))

    answered = _write(deps, first)
    with pytest.raises(IntegrityError):
        _write(deps, second)  # the copy collides on the call's key and is rolled back
    again = read_then_write(deps.session_factory, _turn(deps, _input("1"), 1))

    assert again.is_replay
    assert again.step == answered.step
    assert _turns(deps) == [0, 1]


def test_a_later_answer_of_a_call_never_stored_is_unknown(deps: Dependencies) -> None:
    with pytest.raises(UnknownCall):
        _read(deps, _turn(deps, _input("4711001#"), 2))


def test_a_turn_is_written_with_the_call_and_its_answer(deps: Dependencies) -> None:
    _start(deps)
    result = _write(deps, _read(deps, _turn(deps, _input("4711001#"), 2)))
    assert not result.is_replay
    call = _call(deps)
    assert (call.turn, call.version) == (3, 2)
    assert _turns(deps) == [0, 1, 2]


def test_a_turn_read_before_a_status_callback_is_refused_and_decided_again(
    deps: Dependencies,
) -> None:
    _start(deps)
    stale = _read(deps, _turn(deps, _input("4711001#"), 2))
    read_then_write(deps.session_factory, _status_of(deps, _report("ringing", sequence=2)))

    with pytest.raises(Conflict):
        _write(deps, stale)
    assert (_call(deps).turn, _turns(deps)) == (2, [0, 1])  # nothing of it was written

    read_then_write(deps.session_factory, _turn(deps, _input("4711001#"), 2))
    call = _call(deps)
    assert (call.status, call.turn) == ("ringing", 3)
    assert _turns(deps) == [0, 1, 2]


def test_two_copies_of_a_turn_store_it_once_and_the_second_hears_the_same(
    deps: Dependencies,
) -> None:
    _start(deps)
    inp = _input("4711001#")
    first, second = _read(deps, _turn(deps, inp, 2)), _read(deps, _turn(deps, inp, 2))

    answered = _write(deps, first)
    with pytest.raises(Conflict):
        _write(deps, second)
    again = read_then_write(deps.session_factory, _turn(deps, inp, 2))

    assert again.is_replay
    assert again.step == answered.step
    assert _turns(deps) == [0, 1, 2]


def test_a_repeated_status_callback_writes_nothing(deps: Dependencies) -> None:
    _start(deps)
    read_then_write(deps.session_factory, _status_of(deps, _report("in-progress", sequence=3)))
    decided = _read(deps, _status_of(deps, _report("in-progress", sequence=3)))
    assert decided == Done(CallStatusOutcome(known=True, ended=False, sr_number=None))


def test_an_unknown_call_writes_nothing(deps: Dependencies) -> None:
    report = CallStatusReport(
        call_sid="CA-unknown", status="completed", duration_seconds=1, to_number="+15550000000"
    )  # not one of our numbers
    decided = _read(deps, _status_of(deps, report))
    assert decided == Done(CallStatusOutcome(known=False, ended=False, sr_number=None))
    with transaction(deps.session_factory) as session:
        assert session.scalar(select(Message)) is None
        assert session.scalar(select(Call)) is None


def _status_of_unstored_call(deps: Dependencies, status: str) -> CallStatusOutcome:
    report = _report(status, duration_seconds=7, to_number=GERMAN_LINE, from_number=GERMAN_MOBILE)
    return read_then_write(deps.session_factory, _status_of(deps, report))


def test_a_call_that_ends_during_the_greeting_is_stored_by_its_status_callback(
    deps: Dependencies,
) -> None:
    greet(_input(), context=_context(deps))
    outcome = _status_of_unstored_call(deps, "completed")
    assert outcome == CallStatusOutcome(known=True, ended=True, sr_number=None)
    assert _status_of_unstored_call(deps, "completed") == outcome  # a duplicate changes nothing
    call = _call(deps)
    assert (call.status, call.duration_seconds, call.outcome, call.is_settled) == (
        "completed",
        7,
        "abandoned",
        True,
    )
    assert call.started_at == deps.clock.now() - timedelta(seconds=7)
    assert call.ended_at == deps.clock.now()
    assert (call.from_number, call.region) == (GERMAN_MOBILE, "de")
    with transaction(deps.session_factory) as session:
        assert session.scalar(select(Message)) is None


def test_a_status_callback_that_is_not_an_end_stores_no_unknown_call(deps: Dependencies) -> None:
    outcome = _status_of_unstored_call(deps, "ringing")
    assert outcome == CallStatusOutcome(known=False, ended=False, sr_number=None)
    with transaction(deps.session_factory) as session:
        assert session.scalar(select(Call)) is None


def test_an_end_racing_the_first_answer_is_applied_to_the_stored_call(
    deps: Dependencies,
) -> None:
    report = _report("completed", duration_seconds=7, to_number=GERMAN_LINE)
    stale = _read(deps, _status_of(deps, report))
    _start(deps)  # the first answer is stored between the read and the write
    with pytest.raises(IntegrityError):
        _write(deps, stale)

    outcome = read_then_write(deps.session_factory, _status_of(deps, report))
    assert (outcome.known, outcome.ended) == (True, True)
    call = _call(deps)
    assert (call.status, call.turn, call.outcome) == ("completed", 2, "abandoned")
