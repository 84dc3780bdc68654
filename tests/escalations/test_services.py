"""Escalations on the database: raised once per SR, first accept wins, plans, re-escalation,
and a de-escalation only with all three conditions recorded; every change in the history."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from config.dependencies import Dependencies
from db.transaction import transaction
from db.work import WorkItem
from escalations.history import SYSTEM, Actor, UnknownEscalation
from escalations.lifecycle import Condition, MoveRefused
from escalations.plans import (
    CommunicationKind,
    PlanStep,
    VendorChannel,
    agree_action_plan,
    record_update,
    set_communication_plan,
    track_vendor_case,
)
from escalations.queries import escalation_detail
from escalations.records import Escalation, EscalationReason
from escalations.services import (
    UnknownServiceRequest,
    UnknownStaff,
    accept_escalation,
    assign_engineer,
    de_escalate,
    raise_escalation,
    re_escalate,
    record_condition,
)
from intake.catalog import Catalog
from intake.models import Role
from tests.support.callback_rows import staff
from tests.support.fakes import FakeClock
from tests.support.intake_rows import submit_request


@pytest.fixture
def sr(deps: Dependencies, catalog: Catalog, clock: FakeClock) -> str:
    with transaction(deps.session_factory) as session:
        return submit_request(session, catalog=catalog, now=clock.now())


@pytest.fixture
def people(deps: Dependencies, clock: FakeClock) -> dict:
    with transaction(deps.session_factory) as session:
        mia, _ = staff(session, "mia", now=clock.now(), role=Role.MANAGER, email="mia@example.com")
        max_, _ = staff(session, "max", now=clock.now(), role=Role.MANAGER)
        eva, _ = staff(session, "eva", now=clock.now(), role=Role.ENGINEER, email="eva@example.com")
    return {"mia": mia, "max": max_, "eva": eva}


def _raise(deps: Dependencies, sr: str, clock: FakeClock) -> int:
    with transaction(deps.session_factory) as session:
        escalation, _ = raise_escalation(
            session,
            sr_number=sr,
            reason=EscalationReason.PRODUCTION_DOWN,
            by=Actor("+4915112345678"),
            raised_by_kind="customer",
            now=clock.now(),
        )
        return escalation.id


def test_two_raises_of_one_sr_at_once_make_one_escalation(
    deps: Dependencies, sr: str, clock: FakeClock
) -> None:
    start = threading.Barrier(2)
    raised: list[int] = []
    errors: list[BaseException] = []

    def raise_one() -> None:
        try:
            start.wait()
            raised.append(_raise(deps, sr, clock))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=raise_one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(raised) == 2
    assert len(set(raised)) == 1
    with transaction(deps.session_factory) as session:
        assert len(session.scalars(select(Escalation)).all()) == 1


def test_an_sr_is_escalated_once_and_a_second_request_is_logged_on_it(
    deps: Dependencies, sr: str, clock: FakeClock
) -> None:
    first = _raise(deps, sr, clock)
    clock.advance(minutes=3)
    assert _raise(deps, sr, clock) == first
    with transaction(deps.session_factory) as session:
        detail = escalation_detail(session, first, now=clock.now())
    assert detail is not None
    assert [e.action for e in detail.events] == ["raised", "raised_again"]
    assert detail.status == "raised"
    assert detail.region == "de"


def test_an_unknown_sr_cannot_be_escalated(deps: Dependencies, clock: FakeClock) -> None:
    with pytest.raises(UnknownServiceRequest), transaction(deps.session_factory) as session:
        raise_escalation(
            session,
            sr_number="10000016",
            reason=EscalationReason.OTHER,
            by=SYSTEM,
            raised_by_kind="staff",
            now=clock.now(),
        )


def test_the_first_accept_wins_and_the_second_hears_who(
    deps: Dependencies, sr: str, clock: FakeClock, people: dict
) -> None:
    escalation_id = _raise(deps, sr, clock)
    with transaction(deps.session_factory) as session:
        accept_escalation(session, escalation_id, by=people["mia"], now=clock.now())
    with (
        pytest.raises(MoveRefused, match="already accepted by mia"),
        transaction(deps.session_factory) as session,
    ):
        accept_escalation(session, escalation_id, by=people["max"], now=clock.now())


def test_work_needs_an_owner_first(
    deps: Dependencies, sr: str, clock: FakeClock, people: dict
) -> None:
    escalation_id = _raise(deps, sr, clock)
    with pytest.raises(MoveRefused, match="raised"), transaction(deps.session_factory) as session:
        assign_engineer(session, escalation_id, engineer="eva", by=SYSTEM, now=clock.now())


def test_an_accepted_escalation_is_carried_to_a_documented_de_escalation(
    deps: Dependencies, sr: str, clock: FakeClock, people: dict
) -> None:
    escalation_id = _raise(deps, sr, clock)
    mia = Actor.of(people["mia"])
    with transaction(deps.session_factory) as session:
        accept_escalation(session, escalation_id, by=people["mia"], now=clock.now())
        with pytest.raises(UnknownStaff):
            assign_engineer(session, escalation_id, engineer="nobody", by=mia, now=clock.now())
        assign_engineer(session, escalation_id, engineer="eva", by=mia, now=clock.now())
        version = agree_action_plan(
            session,
            escalation_id,
            steps=[
                PlanStep("Collect logs", "eva", clock.now() + timedelta(hours=2)),
                PlanStep("Patch test system", "customer IT"),
            ],
            participants=["eva", "mia", "Erika Mustermann"],
            by=mia,
            now=clock.now(),
        )
        plan = set_communication_plan(
            session,
            escalation_id,
            kind=CommunicationKind.EMAIL,
            every=timedelta(hours=4),
            participants=["Erika Mustermann"],
            by=mia,
            now=clock.now(),
        )
        track_vendor_case(
            session,
            escalation_id,
            vendor="Storage Corp",
            case_number="SC-4711",
            status="open",
            via=VendorChannel.TSANET,
            by=mia,
            now=clock.now(),
        )
    assert version == 1
    assert plan.next_update_due_at == clock.now() + timedelta(hours=4)
    clock.advance(hours=3)
    with transaction(deps.session_factory) as session:
        updated = record_update(
            session,
            escalation_id,
            summary="logs analysed",
            by=Actor.of(people["eva"]),
            now=clock.now(),
        )
    assert updated.next_update_due_at == clock.now() + timedelta(hours=4)
    with transaction(deps.session_factory) as session, pytest.raises(MoveRefused) as refused:
        de_escalate(session, escalation_id, by=mia, now=clock.now())
    assert len(refused.value.reasons) == 3
    with transaction(deps.session_factory) as session:
        record_condition(
            session, escalation_id, condition=Condition.PLAN_SATISFACTORY, by=mia, now=clock.now()
        )
        record_condition(
            session, escalation_id, condition=Condition.ANALYSIS_ON_TRACK, by=mia, now=clock.now()
        )
        with pytest.raises(ValueError, match="customer_contact"):
            record_condition(
                session, escalation_id, condition=Condition.CUSTOMER_AGREED, by=mia, now=clock.now()
            )
    with transaction(deps.session_factory) as session, pytest.raises(MoveRefused) as refused:
        de_escalate(session, escalation_id, by=mia, now=clock.now())
    assert refused.value.reasons == ["the customer's agreement (who, when, how) is not documented"]
    with transaction(deps.session_factory) as session:
        record_condition(
            session,
            escalation_id,
            condition=Condition.CUSTOMER_AGREED,
            by=mia,
            now=clock.now(),
            customer_contact="Erika Mustermann",
            how="e-mail of 3 Dec",
        )
        de_escalate(session, escalation_id, by=mia, now=clock.now(), note="fixed by patch")
    with transaction(deps.session_factory) as session:
        detail = escalation_detail(session, escalation_id, now=clock.now())
    assert detail is not None
    assert detail.status == "de_escalated"
    assert detail.owner == "mia"
    assert detail.engineer == "eva"
    assert [s.text for s in detail.action_plan] == ["Collect logs", "Patch test system"]
    assert detail.vendor_cases[0].case_number == "SC-4711"
    assert detail.customer_agreed_by == "Erika Mustermann"
    assert [e.action for e in detail.events] == [
        "raised",
        "accept",
        "assign_engineer",
        "agree_action_plan",
        "set_communication_plan",
        "track_vendor_case",
        "record_update",
        "record_condition",
        "record_condition",
        "record_condition",
        "de_escalate",
    ]


def test_re_escalation_raises_the_priority_and_tells_engineer_and_managers_once(
    deps: Dependencies, sr: str, clock: FakeClock, people: dict
) -> None:
    escalation_id = _raise(deps, sr, clock)
    with transaction(deps.session_factory) as session:
        accept_escalation(session, escalation_id, by=people["mia"], now=clock.now())
        assign_engineer(
            session, escalation_id, engineer="eva", by=Actor.of(people["mia"]), now=clock.now()
        )
        re_escalate(
            session, escalation_id, reason="no progress for 2 days", by=SYSTEM, now=clock.now()
        )
    with transaction(deps.session_factory) as session:
        escalation = session.get(Escalation, escalation_id)
        notices = session.scalars(
            select(WorkItem.key).where(WorkItem.kind == "escalations.notice")
        ).all()
    assert escalation is not None
    assert escalation.priority == 2
    assert escalation.management_informed_at == clock.now()
    # mia and eva have e-mail addresses; max has none and is told nothing by e-mail.
    raised = [k for k in notices if ":raised:" in k]
    assert [k.rsplit(":", 1)[1] for k in raised] == [str(people["mia"].id)]
    re_escalated = [k for k in notices if ":re_escalated:" in k]
    assert sorted(k.rsplit(":", 1)[1] for k in re_escalated) == sorted(
        [str(people["mia"].id), str(people["eva"].id)]
    )


def test_an_unknown_escalation_is_named(deps: Dependencies, clock: FakeClock, people: dict) -> None:
    with pytest.raises(UnknownEscalation, match="77"), transaction(deps.session_factory) as session:
        accept_escalation(session, 77, by=people["mia"], now=clock.now())
