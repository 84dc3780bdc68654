"""Taking the next callback in a transaction of its own, as the API does: the claim and the view."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from callbacks.claims import claim_callback, claim_next_callback, take_next_callback
from callbacks.queries import CallbackView, callback_history, callback_view
from config.dependencies import Dependencies
from db.transaction import transaction
from intake.catalog import Catalog
from intake.staff import StaffMember
from tests.support.callback_rows import queued_callbacks, staff
from tests.support.fakes import FakeClock


@pytest.fixture
def anna(deps: Dependencies, clock: FakeClock) -> StaffMember:
    with transaction(deps.session_factory) as session:
        return staff(session, "anna", now=clock.now())[0]


@pytest.fixture
def ben(deps: Dependencies, clock: FakeClock) -> StaffMember:
    with transaction(deps.session_factory) as session:
        return staff(session, "ben", now=clock.now())[0]


def _take(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, by: StaffMember
) -> CallbackView | None:
    return take_next_callback(
        deps.session_factory, by=by, region="de", now=clock.now(), catalog=catalog
    )


def test_taking_the_next_callback_answers_it_as_listed_once_claimed(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, anna: StaffMember
) -> None:
    first, _ = queued_callbacks(deps.session_factory, catalog, clock, 2)
    clock.advance(minutes=3)
    taken = _take(deps, catalog, clock, anna)
    with transaction(deps.session_factory) as session:
        assert taken == callback_view(session, first, now=clock.now())
        [claimed] = callback_history(session, first)
    assert taken is not None
    assert taken.claimed_by == "anna"
    assert (claimed.at, claimed.actor, claimed.action, claimed.from_status, claimed.to_status) == (
        clock.now(),
        "anna",
        "claim",
        "queued",
        "claimed",
    )


def test_taking_the_next_callback_answers_none_when_nobody_waits(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, anna: StaffMember, ben: StaffMember
) -> None:
    [only] = queued_callbacks(deps.session_factory, catalog, clock, 1)
    with transaction(deps.session_factory) as session:
        claim_callback(session, only, by=anna, now=clock.now(), catalog=catalog)
    assert _take(deps, catalog, clock, ben) is None


def test_taking_the_next_callback_writes_what_claiming_it_in_a_transaction_writes(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, anna: StaffMember
) -> None:
    taken_id, claimed_id = queued_callbacks(deps.session_factory, catalog, clock, 2)
    taken = _take(deps, catalog, clock, anna)
    with transaction(deps.session_factory) as session:
        claimed = claim_next_callback(
            session, by=anna, region="de", now=clock.now(), catalog=catalog
        )
        assert claimed is not None
        assert claimed.id == claimed_id
    with transaction(deps.session_factory) as session:
        taken_view = callback_view(session, taken_id, now=clock.now())
        claimed_view = callback_view(session, claimed_id, now=clock.now())
        taken_moves = callback_history(session, taken_id)
        claimed_moves = callback_history(session, claimed_id)
    assert taken == taken_view
    assert taken_view is not None
    assert claimed_view is not None
    assert (taken_view.status, taken_view.claimed_by, taken_view.claim_expires_at) == (
        claimed_view.status,
        claimed_view.claimed_by,
        claimed_view.claim_expires_at,
    )
    assert taken_moves == claimed_moves


def test_taking_the_next_callback_on_postgresql_is_one_statement_without_a_transaction(
    deps: Dependencies,
    catalog: Catalog,
    clock: FakeClock,
    anna: StaffMember,
    is_postgres: bool,
) -> None:
    if not is_postgres:
        pytest.skip("SQLite writes in a transaction holding its writer lock")
    [callback_id] = queued_callbacks(deps.session_factory, catalog, clock, 1)
    autocommit: list[bool] = []

    def seen(connection: object, *_args: object) -> None:
        autocommit.append(connection.connection.dbapi_connection.autocommit)  # type: ignore[attr-defined]

    event.listen(deps.engine, "before_cursor_execute", seen)
    try:
        taken = _take(deps, catalog, clock, anna)
    finally:
        event.remove(deps.engine, "before_cursor_execute", seen)
    assert taken is not None
    assert taken.id == callback_id
    assert autocommit == [True]  # one statement, and no BEGIN or COMMIT around it


def test_taking_over_an_expired_claim_records_its_expiry_first(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, anna: StaffMember, ben: StaffMember
) -> None:
    first, second = queued_callbacks(deps.session_factory, catalog, clock, 2)
    with transaction(deps.session_factory) as session:
        claim_callback(session, first, by=anna, now=clock.now(), catalog=catalog)
    clock.advance(minutes=11)  # anna's claim expired; nobody returned it to the queue yet
    taken = _take(deps, catalog, clock, ben)
    with transaction(deps.session_factory) as session:
        assert taken == callback_view(session, first, now=clock.now())
        moves = [(e.actor, e.action) for e in callback_history(session, first)]
        untouched = callback_history(session, second)
    assert taken is not None
    assert taken.claimed_by == "ben"
    assert moves == [("anna", "claim"), ("system", "expire"), ("ben", "claim")]
    assert untouched == []
