"""Confirmation rows: delivery statuses from Twilio, in any order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.transaction import SessionFactory, transaction
from intake.catalog import Catalog
from intake.confirmations import record_sent, record_sms_status
from intake.models import ConfirmationStatus
from tests.support.fakes import FakeClock
from tests.support.intake_rows import confirmation, submit_request


@pytest.mark.usefixtures("demo_customers")
def test_a_status_callback_that_overtakes_the_worker_is_kept_and_not_undone(
    session_factory: SessionFactory, catalog: Catalog, clock: FakeClock
) -> None:
    with transaction(session_factory) as session:
        sr_number = submit_request(session, catalog=catalog, now=clock.now())
        confirmation_id = confirmation(session, sr_number).id
    clock.advance(seconds=2)
    with transaction(session_factory) as session:
        known = record_sms_status(
            session,
            message_sid="SM" + "1" * 32,
            status="delivered",
            error_code=None,
            now=clock.now(),
            confirmation_id=confirmation_id,
        )
    assert known
    delivered_at = clock.now()
    clock.advance(timedelta(seconds=1))
    with transaction(session_factory) as session:
        record_sent(
            session, confirmation_id, provider_id="SM" + "1" * 32, status="queued", now=clock.now()
        )
    with transaction(session_factory) as session:
        row = confirmation(session, sr_number)
        assert (row.status, row.provider_status) == (ConfirmationStatus.DELIVERED, "delivered")
        assert row.provider_id == "SM" + "1" * 32
        assert row.delivered_at == delivered_at


@pytest.mark.usefixtures("demo_customers")
def test_a_status_callback_for_an_unknown_message_changes_nothing(
    session_factory: SessionFactory, catalog: Catalog, clock: FakeClock
) -> None:
    with transaction(session_factory) as session:
        sr_number = submit_request(session, catalog=catalog, now=clock.now())
        known = record_sms_status(
            session,
            message_sid="SM" + "9" * 32,
            status="delivered",
            error_code=None,
            now=clock.now(),
        )
        row = confirmation(session, sr_number)
        assert not known
        assert (row.status, row.provider_id) == (ConfirmationStatus.QUEUED, None)


@pytest.mark.usefixtures("demo_customers")
def test_a_send_without_a_provider_id_keeps_the_one_stored_and_the_first_send_time(
    session_factory: SessionFactory, catalog: Catalog, clock: FakeClock
) -> None:
    with transaction(session_factory) as session:
        sr_number = submit_request(session, catalog=catalog, now=clock.now())
        confirmation_id = confirmation(session, sr_number).id
        record_sent(
            session, confirmation_id, provider_id="SM" + "2" * 32, status="sent", now=clock.now()
        )
    first_sent = clock.now()
    clock.advance(seconds=5)
    with transaction(session_factory) as session:
        record_sent(session, confirmation_id, provider_id=None, status="queued", now=clock.now())
    with transaction(session_factory) as session:
        row = confirmation(session, sr_number)
        assert (row.status, row.provider_id, row.provider_status) == (
            ConfirmationStatus.SENT,
            "SM" + "2" * 32,
            "sent",  # "queued" ranks below "sent": no regression
        )
        assert row.sent_at == first_sent
