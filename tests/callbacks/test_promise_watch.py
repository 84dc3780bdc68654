"""Promises watched: warned once before they break, breached once, managers' notices queued."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from callbacks.claims import (
    CALL_OUTCOME,
    SYSTEM,
    apply_move,
    claim_callback,
    locked_callback,
    record_disposition,
    reschedule_callback,
)
from callbacks.lifecycle import Disposition, Move
from callbacks.models import Callback, CallbackStatus
from callbacks.notices import CUSTOMER_NOTICE_KIND, MANAGER_NOTICE_KIND, UNSENT_ALERT
from callbacks.promise_watch import record_breaches, warn_unclaimed_callbacks
from callbacks.queries import callback_history
from config.dependencies import Dependencies
from db.transaction import transaction
from db.work import Alert, WorkItem
from intake.catalog import Catalog
from intake.models import Role
from tests.support.callback_rows import queued_callback, staff
from tests.support.fakes import FakeClock

MANAGER_MOBILE = "+4915199990002"
BERLIN_LANDLINE = "+493012345678"


@pytest.fixture
def managers(deps: Dependencies, clock: FakeClock) -> dict[str, int]:
    """Two managers of "de" (one with a mobile, one with a landline), one of "us", one gone."""
    with transaction(deps.session_factory) as session:
        mia, _ = staff(
            session,
            "mia",
            now=clock.now(),
            role=Role.MANAGER,
            phone=MANAGER_MOBILE,
            email="mia@example.com",
        )
        max_, _ = staff(
            session,
            "max",
            now=clock.now(),
            role=Role.MANAGER,
            phone=BERLIN_LANDLINE,
            email="max@example.com",
        )
        staff(
            session,
            "sam",
            now=clock.now(),
            role=Role.MANAGER,
            region="us",
            phone="+12025550143",
            email="sam@example.com",
        )
        staff(session, "anna", now=clock.now(), email="anna@example.com")  # an agent
    return {"mia": mia.id, "max": max_.id}


def notice_rows(deps: Dependencies, kind: str = MANAGER_NOTICE_KIND) -> list[str]:
    with transaction(deps.session_factory) as session:
        return sorted(session.scalars(select(WorkItem.key).where(WorkItem.kind == kind)))


def queue_one(deps: Dependencies, catalog: Catalog, clock: FakeClock, **kwargs: str) -> int:
    with transaction(deps.session_factory) as session:
        return queued_callback(session, catalog=catalog, now=clock.now(), **kwargs)


def row(deps: Dependencies, callback_id: int) -> Callback:
    with transaction(deps.session_factory) as session:
        found = session.get(Callback, callback_id)
        assert found is not None
        session.expunge(found)
        return found


def warn(deps: Dependencies, catalog: Catalog, clock: FakeClock) -> list[int]:
    with transaction(deps.session_factory) as session:
        return warn_unclaimed_callbacks(session, now=clock.now(), catalog=catalog)


def breach(deps: Dependencies, catalog: Catalog, clock: FakeClock) -> list[int]:
    with transaction(deps.session_factory) as session:
        return record_breaches(session, now=clock.now(), catalog=catalog)


def test_an_unclaimed_callback_is_warned_once_at_its_warning_time_to_each_manager_and_channel(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, managers: dict[str, int]
) -> None:
    callback_id = queue_one(deps, catalog, clock)  # 24x7: due in 30 min, warned 10 min before
    due = row(deps, callback_id).due_at

    clock.advance(minutes=19, seconds=59)
    assert warn(deps, catalog, clock) == []
    clock.advance(seconds=1)
    assert warn(deps, catalog, clock) == [callback_id]
    clock.advance(seconds=15)
    assert warn(deps, catalog, clock) == []

    stamp = int(due.timestamp())
    mia, max_ = managers["mia"], managers["max"]
    # E-mail to both; SMS only to the manager whose phone is a mobile (max has a landline).
    assert notice_rows(deps) == sorted(
        [
            f"callback.warning:{callback_id}:{stamp}:{mia}:email",
            f"callback.warning:{callback_id}:{stamp}:{mia}:sms",
            f"callback.warning:{callback_id}:{stamp}:{max_}:email",
        ]
    )
    assert row(deps, callback_id).warned_at == clock.now() - timedelta(seconds=15)
    with transaction(deps.session_factory) as session:
        [event] = callback_history(session, callback_id)
    assert (event.actor, event.action, event.from_status, event.to_status) == (
        "system",
        "warn",
        "queued",
        "queued",
    )
    assert event.reason == "unclaimed 10 min before due; 3 notice(s) to managers"


def test_a_claimed_callback_is_not_warned(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, managers: dict[str, int]
) -> None:
    callback_id = queue_one(deps, catalog, clock)
    with transaction(deps.session_factory) as session:
        anna, _ = staff(session, "ben", now=clock.now())
        claim_callback(session, callback_id, by=anna, now=clock.now(), catalog=catalog)

    clock.advance(minutes=25)

    assert warn(deps, catalog, clock) == []
    assert notice_rows(deps) == []


def test_a_promise_due_with_no_call_started_is_breached_once_claimed_or_not(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, managers: dict[str, int]
) -> None:
    queued_id = queue_one(deps, catalog, clock)
    claimed_id = queue_one(deps, catalog, clock)
    with transaction(deps.session_factory) as session:
        ben, _ = staff(session, "ben", now=clock.now())
        claim_callback(session, claimed_id, by=ben, now=clock.now(), catalog=catalog)
    clock.advance(minutes=29, seconds=59)
    assert breach(deps, catalog, clock) == []

    clock.advance(seconds=1)
    assert breach(deps, catalog, clock) == [queued_id, claimed_id]
    clock.advance(minutes=5)
    assert breach(deps, catalog, clock) == []

    assert len(notice_rows(deps)) == 2 * 3
    assert all(key.startswith("callback.breach:") for key in notice_rows(deps))
    with transaction(deps.session_factory) as session:
        history = callback_history(session, queued_id)
    [event] = [e for e in history if e.action == "breach"]
    assert (event.actor, event.from_status, event.to_status) == ("system", "queued", "queued")
    assert row(deps, queued_id).breached_at == clock.now() - timedelta(minutes=5)


def test_a_callback_first_seen_after_its_due_time_is_breached_not_warned_as_well(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, managers: dict[str, int]
) -> None:
    callback_id = queue_one(deps, catalog, clock)
    clock.advance(hours=2)  # no worker ran meanwhile

    assert breach(deps, catalog, clock) == [callback_id]
    assert warn(deps, catalog, clock) == []
    assert {key.split(":")[0] for key in notice_rows(deps)} == {"callback.breach"}


def test_a_time_the_customer_asked_for_is_a_new_promise_warned_and_breached_again(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, managers: dict[str, int]
) -> None:
    callback_id = queue_one(deps, catalog, clock)
    clock.advance(minutes=31)
    breach(deps, catalog, clock)
    with transaction(deps.session_factory) as session:
        reschedule_callback(
            session,
            callback_id,
            by=SYSTEM,
            at=clock.now() + timedelta(hours=1),
            now=clock.now(),
            catalog=catalog,
        )
    first = notice_rows(deps)

    clock.advance(minutes=50)
    assert warn(deps, catalog, clock) == [callback_id]
    clock.advance(minutes=10)
    assert breach(deps, catalog, clock) == [callback_id]

    assert len(first) == 3
    assert len(notice_rows(deps)) == 3 * 3


def test_a_broken_promise_nobody_can_be_told_of_raises_an_alert(
    deps: Dependencies, catalog: Catalog, clock: FakeClock
) -> None:
    callback_id = queue_one(deps, catalog, clock)
    with transaction(deps.session_factory) as session:
        staff(session, "lea", now=clock.now(), role=Role.MANAGER, phone=None, email=None)
    clock.advance(minutes=30)

    assert breach(deps, catalog, clock) == [callback_id]

    assert notice_rows(deps) == []
    with transaction(deps.session_factory) as session:
        [alert] = session.scalars(select(Alert)).all()
    assert alert.kind == UNSENT_ALERT
    assert "region de has no active manager" in alert.message


def test_a_callback_out_of_attempts_promises_the_customer_a_notice_whichever_way_it_closed(
    deps: Dependencies, catalog: Catalog, clock: FakeClock
) -> None:
    by_agent = queue_one(deps, catalog, clock)
    by_call = queue_one(deps, catalog, clock)
    with transaction(deps.session_factory) as session:
        ben, _ = staff(session, "ben", now=clock.now())
    for attempt in range(3):
        for callback_id in (by_agent, by_call):
            with transaction(deps.session_factory) as session:
                claim_callback(session, callback_id, by=ben, now=clock.now(), catalog=catalog)
        with transaction(deps.session_factory) as session:
            record_disposition(
                session,
                by_agent,
                by=SYSTEM,
                disposition=Disposition.NO_ANSWER,
                now=clock.now(),
                catalog=catalog,
            )
        with transaction(deps.session_factory) as session:
            callback = locked_callback(session, by_call)
            apply_move(
                session, callback, Move.START_CALL, actor=SYSTEM, now=clock.now(), catalog=catalog
            )
            apply_move(
                session,
                callback,
                Move.CUSTOMER_NOT_REACHED,
                actor=CALL_OUTCOME,
                now=clock.now(),
                catalog=catalog,
                disposition=Disposition.BUSY,
            )
        if attempt < 2:
            assert notice_rows(deps, CUSTOMER_NOTICE_KIND) == []
            clock.advance(minutes=10)

    assert row(deps, by_agent).status == row(deps, by_call).status == CallbackStatus.UNREACHABLE
    assert notice_rows(deps, CUSTOMER_NOTICE_KIND) == sorted(
        [f"callback.unreachable:{by_agent}", f"callback.unreachable:{by_call}"]
    )
