"""Turns and status callbacks decided on a read are written only if the call is unchanged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from config.dependencies import Dependencies
from db.transaction import (
    NeedsLock,
    Planned,
    apply_planned,
    decide_then_write,
    read_connection,
    transaction,
)
from intake.call_flow import StepName
from intake.calls import (
    CallerInput,
    CallStatusOutcome,
    CallStatusReport,
    TurnContext,
    TurnResult,
    UnknownCall,
    first_turn,
    handle_turn,
    plan_call_status,
    plan_turn,
    record_call_status,
)
from intake.models import Call, CallTurn, Message
from tests.support.calls import GERMAN_LINE, GERMAN_MOBILE

CALL_SID = "CA" + "1" * 32


def _input(digits: str | None = None) -> CallerInput:
    return CallerInput(
        call_sid=CALL_SID, to_number=GERMAN_LINE, from_number=GERMAN_MOBILE, digits=digits
    )


def _context(deps: Dependencies) -> TurnContext:
    return TurnContext(catalog=deps.catalog, scheduler=deps.scheduler, now=deps.clock.now())


def _locked_turn(
    deps: Dependencies, inp: CallerInput, seq: int
) -> tuple[list[int], Callable[[Session], TurnResult]]:
    used: list[int] = []

    def locked(session: Session) -> TurnResult:
        used.append(seq)
        return handle_turn(session, inp, seq=seq, context=_context(deps))

    return used, locked


def _start(deps: Dependencies) -> None:
    """Greet the caller and store the call with its first answer (1: a new request)."""
    first_turn(_input(), context=_context(deps))
    used, locked = _locked_turn(deps, _input("1"), 1)
    apply_planned(deps.session_factory, _plan(deps, _input("1"), 1), locked)
    assert used == []


def _plan(deps: Dependencies, inp: CallerInput, seq: int) -> Planned[TurnResult]:
    with read_connection(deps.session_factory) as reader:
        planned = plan_turn(reader, inp, seq=seq, context=_context(deps))
    assert isinstance(planned, Planned)
    return planned


def _report(status: str, **more: Any) -> CallStatusReport:
    return CallStatusReport(call_sid=CALL_SID, status=status, **more)


def _record(deps: Dependencies, session: Session, report: CallStatusReport) -> CallStatusOutcome:
    return record_call_status(
        session, report, catalog=deps.catalog, scheduler=deps.scheduler, now=deps.clock.now()
    )


def _plan_status(
    deps: Dependencies, reader: Connection, report: CallStatusReport
) -> Planned[CallStatusOutcome] | CallStatusOutcome:
    return plan_call_status(reader, report, catalog=deps.catalog, now=deps.clock.now())


def _status(deps: Dependencies, status: str, sequence: int) -> CallStatusOutcome:
    with transaction(deps.session_factory) as session:
        return _record(deps, session, _report(status, duration_seconds=12, sequence=sequence))


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
    greeting = first_turn(_input(), context=_context(deps))
    assert greeting.step.name is StepName.MENU
    assert _turns(deps) == []
    with transaction(deps.session_factory) as session:
        assert session.scalar(select(Call)) is None

    used, locked = _locked_turn(deps, _input("1"), 1)
    result = apply_planned(deps.session_factory, _plan(deps, _input("1"), 1), locked)

    assert used == []
    assert result.step.name is StepName.CUSTOMER_NUMBER
    call = _call(deps)
    assert (call.turn, call.version, call.flow["step"]) == (2, 1, "customer_number")
    assert (call.from_number, call.to_number, call.region) == (GERMAN_MOBILE, GERMAN_LINE, "de")
    assert _turns(deps) == [0, 1]
    # A late copy of the greeting's webhook hears the greeting as it was stored.
    with read_connection(deps.session_factory) as reader:
        again = plan_turn(reader, _input(), seq=0, context=_context(deps))
    assert isinstance(again, TurnResult)
    assert again.is_replay
    assert again.step == greeting.step


def test_the_call_starts_when_it_was_greeted_if_the_answer_says_so(deps: Dependencies) -> None:
    greeted = deps.clock.now()
    deps.clock.advance(timedelta(seconds=9))
    inp = replace(_input("1"), started_at=greeted)
    _, locked = _locked_turn(deps, inp, 1)
    apply_planned(deps.session_factory, _plan(deps, inp, 1), locked)
    call = _call(deps)
    assert call.started_at == greeted
    assert call.last_activity_at == greeted + timedelta(seconds=9)


@pytest.mark.parametrize("claimed", [timedelta(hours=5), timedelta(seconds=-30)])
def test_an_implausible_start_is_replaced_by_the_first_answer(
    deps: Dependencies, claimed: timedelta
) -> None:
    inp = replace(_input("1"), started_at=deps.clock.now() - claimed)
    _, locked = _locked_turn(deps, inp, 1)
    apply_planned(deps.session_factory, _plan(deps, inp, 1), locked)
    assert _call(deps).started_at == deps.clock.now()


def test_two_copies_of_the_first_answer_store_the_call_once(deps: Dependencies) -> None:
    first, second = _plan(deps, _input("1"), 1), _plan(deps, _input("1"), 1)
    used, locked = _locked_turn(deps, _input("1"), 1)

    answered = apply_planned(deps.session_factory, first, locked)
    again = apply_planned(deps.session_factory, second, locked)

    assert used == [1]  # the copy collided on the call's key and was decided again, locked
    assert again.is_replay
    assert again.step == answered.step
    assert _turns(deps) == [0, 1]


def test_a_later_answer_of_a_call_never_stored_is_unknown(deps: Dependencies) -> None:
    with pytest.raises(UnknownCall), read_connection(deps.session_factory) as reader:
        plan_turn(reader, _input("4711001#"), seq=2, context=_context(deps))


def test_a_planned_turn_is_written_with_the_call_and_its_answer(deps: Dependencies) -> None:
    _start(deps)
    used, locked = _locked_turn(deps, _input("4711001#"), 2)
    result = apply_planned(deps.session_factory, _plan(deps, _input("4711001#"), 2), locked)

    assert used == []
    assert not result.is_replay
    call = _call(deps)
    assert (call.turn, call.version) == (3, 2)
    assert _turns(deps) == [0, 1, 2]


def test_a_turn_planned_before_a_status_callback_is_applied_again_under_the_lock(
    deps: Dependencies,
) -> None:
    _start(deps)
    planned = _plan(deps, _input("4711001#"), 2)
    _status(deps, "ringing", 2)  # the call changed after the turn was read

    used, locked = _locked_turn(deps, _input("4711001#"), 2)
    apply_planned(deps.session_factory, planned, locked)

    assert used == [2]
    call = _call(deps)
    assert (call.status, call.turn) == ("ringing", 3)
    assert _turns(deps) == [0, 1, 2]


def test_two_copies_of_a_turn_store_it_once_and_the_second_hears_the_same(
    deps: Dependencies,
) -> None:
    _start(deps)
    inp = _input("4711001#")
    first, second = _plan(deps, inp, 2), _plan(deps, inp, 2)
    used, locked = _locked_turn(deps, inp, 2)

    answered = apply_planned(deps.session_factory, first, locked)
    again = apply_planned(deps.session_factory, second, locked)

    assert used == [2]
    assert again.is_replay
    assert again.step == answered.step
    assert _turns(deps) == [0, 1, 2]


def test_a_repeated_status_callback_plans_no_write(deps: Dependencies) -> None:
    _start(deps)
    _status(deps, "in-progress", 3)
    with read_connection(deps.session_factory) as reader:
        decided = _plan_status(deps, reader, _report("in-progress", sequence=3))
    assert decided == CallStatusOutcome(known=True, ended=False, sr_number=None)


def test_the_end_of_a_call_that_owes_an_sr_is_settled_under_the_lock(deps: Dependencies) -> None:
    _start(deps)
    with (
        pytest.raises(NeedsLock),
        read_connection(deps.session_factory) as reader,
    ):
        _plan_status(deps, reader, _report("completed", duration_seconds=12, sequence=4))


def test_an_unknown_call_plans_nothing(deps: Dependencies) -> None:
    report = CallStatusReport(
        call_sid="CA-unknown", status="completed", duration_seconds=1, to_number="+15550000000"
    )  # not one of our numbers
    with read_connection(deps.session_factory) as reader:
        decided = _plan_status(deps, reader, report)
    assert decided == CallStatusOutcome(known=False, ended=False, sr_number=None)
    with transaction(deps.session_factory) as session:
        assert session.scalar(select(Message)) is None
        assert session.scalar(select(Call)) is None


def _status_of_unstored_call(deps: Dependencies, status: str) -> CallStatusOutcome:
    report = _report(status, duration_seconds=7, to_number=GERMAN_LINE, from_number=GERMAN_MOBILE)
    return decide_then_write(
        deps.session_factory,
        lambda reader: _plan_status(deps, reader, report),
        lambda session: _record(deps, session, report),
    )


def test_a_call_that_ends_during_the_greeting_is_stored_by_its_status_callback(
    deps: Dependencies,
) -> None:
    first_turn(_input(), context=_context(deps))
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
    with read_connection(deps.session_factory) as reader:
        planned = _plan_status(deps, reader, report)
    assert isinstance(planned, Planned)
    _start(deps)  # the first answer is stored between the read and the write

    def locked(session: Session) -> CallStatusOutcome:
        return _record(deps, session, report)

    outcome = apply_planned(deps.session_factory, planned, locked)
    assert (outcome.known, outcome.ended) == (True, True)
    call = _call(deps)
    assert (call.status, call.turn, call.outcome) == ("completed", 2, "abandoned")
