"""Turns and status callbacks decided on a read are written only if the call is unchanged."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.dependencies import Dependencies
from db.transaction import NeedsLock, Planned, apply_planned, read_connection, transaction
from intake.call_flow import StepName
from intake.calls import (
    CallerInput,
    CallStatusOutcome,
    TurnContext,
    TurnResult,
    handle_turn,
    plan_call_status,
    plan_first_turn,
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
    used, locked = _locked_turn(deps, _input(), 0)
    apply_planned(deps.session_factory, plan_first_turn(_input(), context=_context(deps)), locked)
    assert used == []


def _plan(deps: Dependencies, inp: CallerInput, seq: int) -> Planned[TurnResult]:
    with read_connection(deps.session_factory) as reader:
        planned = plan_turn(reader, inp, seq=seq, context=_context(deps))
    assert isinstance(planned, Planned)
    return planned


def _status(deps: Dependencies, status: str, sequence: int) -> CallStatusOutcome:
    with transaction(deps.session_factory) as session:
        return record_call_status(
            session,
            call_sid=CALL_SID,
            status=status,
            duration_seconds=12,
            sequence=sequence,
            catalog=deps.catalog,
            scheduler=deps.scheduler,
            now=deps.clock.now(),
        )


def _call(deps: Dependencies) -> Call:
    with transaction(deps.session_factory) as session:
        call = session.scalar(select(Call))
        assert call is not None
        return call


def _turns(deps: Dependencies) -> list[int]:
    with transaction(deps.session_factory) as session:
        return list(session.scalars(select(CallTurn.seq).order_by(CallTurn.seq)))


def test_a_planned_turn_is_written_with_the_call_and_its_answer(deps: Dependencies) -> None:
    _start(deps)
    used, locked = _locked_turn(deps, _input("1"), 1)
    result = apply_planned(deps.session_factory, _plan(deps, _input("1"), 1), locked)

    assert used == []
    assert result.step.name is StepName.CUSTOMER_NUMBER
    assert not result.is_replay
    call = _call(deps)
    assert (call.turn, call.version, call.flow["step"]) == (2, 2, "customer_number")
    assert _turns(deps) == [0, 1]


def test_a_turn_planned_before_a_status_callback_is_applied_again_under_the_lock(
    deps: Dependencies,
) -> None:
    _start(deps)
    planned = _plan(deps, _input("1"), 1)
    _status(deps, "ringing", 2)  # the call changed after the turn was read

    used, locked = _locked_turn(deps, _input("1"), 1)
    result = apply_planned(deps.session_factory, planned, locked)

    assert used == [1]
    assert result.step.name is StepName.CUSTOMER_NUMBER
    call = _call(deps)
    assert (call.status, call.turn) == ("ringing", 2)
    assert _turns(deps) == [0, 1]


def test_two_copies_of_a_turn_store_it_once_and_the_second_hears_the_same(
    deps: Dependencies,
) -> None:
    _start(deps)
    first, second = _plan(deps, _input("1"), 1), _plan(deps, _input("1"), 1)
    used, locked = _locked_turn(deps, _input("1"), 1)

    answered = apply_planned(deps.session_factory, first, locked)
    again = apply_planned(deps.session_factory, second, locked)

    assert used == [1]
    assert again.is_replay
    assert again.step == answered.step
    assert _turns(deps) == [0, 1]


def test_a_repeated_status_callback_plans_no_write(deps: Dependencies) -> None:
    _start(deps)
    _status(deps, "in-progress", 3)
    with read_connection(deps.session_factory) as reader:
        decided = plan_call_status(
            reader,
            call_sid=CALL_SID,
            status="in-progress",
            duration_seconds=None,
            sequence=3,
            now=deps.clock.now(),
        )
    assert decided == CallStatusOutcome(known=True, ended=False, sr_number=None)


def test_the_end_of_a_call_that_owes_an_sr_is_settled_under_the_lock(deps: Dependencies) -> None:
    _start(deps)
    with (
        pytest.raises(NeedsLock),
        read_connection(deps.session_factory) as reader,
    ):
        plan_call_status(
            reader,
            call_sid=CALL_SID,
            status="completed",
            duration_seconds=12,
            sequence=4,
            now=deps.clock.now(),
        )


def test_an_unknown_call_plans_nothing(deps: Dependencies) -> None:
    with read_connection(deps.session_factory) as reader:
        decided = plan_call_status(
            reader,
            call_sid="CA-unknown",
            status="completed",
            duration_seconds=1,
            sequence=1,
            now=deps.clock.now(),
        )
    assert decided == CallStatusOutcome(known=False, ended=False, sr_number=None)
    with transaction(deps.session_factory) as session:
        assert session.scalar(select(Message)) is None
