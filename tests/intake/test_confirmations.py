"""Confirmation rows: delivery statuses from Twilio, in any order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.transaction import SessionFactory, transaction
from intake.catalog import Catalog
from intake.confirmations import confirmation_targets, record_sent, record_sms_status, sms_target
from intake.models import ConfirmationStatus
from tests.support.fakes import FakeClock
from tests.support.intake_rows import confirmation, submit_request

MOBILE = "+4915112345678"
OTHER_MOBILE = "+4917612345678"
LANDLINE = "+4930123456"
US_NUMBER = "+12025550143"  # the US plan mixes fixed and mobile: an SMS may reach it


@pytest.mark.parametrize(
    ("callback_number", "caller_id", "expected"),
    [
        (MOBILE, None, MOBILE),
        (MOBILE, OTHER_MOBILE, MOBILE),
        (LANDLINE, MOBILE, MOBILE),
        (None, MOBILE, MOBILE),
        (LANDLINE, None, None),
        (LANDLINE, "+4989123456", None),
        (None, None, None),
        (LANDLINE, US_NUMBER, US_NUMBER),
    ],
)
def test_the_sms_goes_to_the_callback_number_if_mobile_else_to_a_mobile_caller_id(
    callback_number, caller_id, expected
) -> None:
    assert sms_target(callback_number, caller_id=caller_id) == expected


def test_a_message_without_a_mobile_or_email_has_no_confirmation_target() -> None:
    assert confirmation_targets(callback_number=LANDLINE, caller_id=None, email=None) == ()
    assert confirmation_targets(callback_number=LANDLINE, caller_id=None, email="a@b.example") == (
        ("email", "a@b.example"),
    )


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
