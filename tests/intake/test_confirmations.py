"""Confirmation rows: delivery statuses from Twilio, in any order."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from db.transaction import SessionFactory, transaction
from db.work import Alert
from intake.catalog import Catalog, SmsLimits
from intake.confirmation_targets import confirmation_targets, sms_target
from intake.confirmations import SMS_LIMITED, record_sent, record_sms_status
from intake.models import Confirmation, ConfirmationStatus, ServiceRequest
from intake.number_policy import NumberPolicy
from intake.sms_limits import SMS_LIMIT_ALERT
from tests.support.fakes import FakeClock
from tests.support.intake_rows import GERMAN_CUSTOMER, confirmation, submit_request

MOBILE = "+4915112345678"
OTHER_MOBILE = "+4917612345678"
LANDLINE = "+4930123456"
US_NUMBER = "+12025550143"  # the US plan mixes fixed and mobile: an SMS may reach it
UK_MOBILE = "+447911123456"
HOTLINES = frozenset({"+498001006711", "+18005550199"})
GERMANY = NumberPolicy("DE", frozenset({"DE"}), frozenset({"DE"}), HOTLINES)
USA = NumberPolicy("US", frozenset({"US"}), frozenset({"US"}), HOTLINES)


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
        # Only mobiles in the region's SMS countries: a foreign number is no SMS target.
        (LANDLINE, US_NUMBER, None),
        (UK_MOBILE, MOBILE, MOBILE),
        (UK_MOBILE, None, None),
    ],
)
def test_the_sms_goes_to_the_callback_number_if_mobile_else_to_a_mobile_caller_id(
    callback_number, caller_id, expected
) -> None:
    assert sms_target(callback_number, caller_id=caller_id, policy=GERMANY) == expected


def test_us_numbers_are_texted_on_the_us_hotline() -> None:
    assert sms_target(US_NUMBER, caller_id=None, policy=USA) == US_NUMBER


def test_a_message_without_a_mobile_or_email_has_no_confirmation_target() -> None:
    assert (
        confirmation_targets(callback_number=LANDLINE, caller_id=None, email=None, policy=GERMANY)
        == ()
    )
    assert confirmation_targets(
        callback_number=LANDLINE, caller_id=None, email="a@b.example", policy=GERMANY
    ) == (("email", "a@b.example"),)


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


# -- hourly SMS limits ----------------------------------------------------------------------------


def sms_to(session, sr_number: str) -> list[str]:
    rows = session.scalars(
        select(Confirmation.address).where(
            Confirmation.sr_number == sr_number, Confirmation.channel == "sms"
        )
    )
    return list(rows)


def alerts(session) -> list[Alert]:
    return list(session.scalars(select(Alert).where(Alert.kind == SMS_LIMIT_ALERT)))


@pytest.mark.usefixtures("demo_customers")
def test_a_fourth_sms_to_one_number_within_the_hour_is_held_back_and_the_sr_says_why(
    session_factory: SessionFactory, catalog: Catalog, clock: FakeClock
) -> None:
    numbers = []
    for _ in range(4):
        with transaction(session_factory) as session:
            numbers.append(submit_request(session, catalog=catalog, now=clock.now()))
        clock.advance(seconds=60)
    with transaction(session_factory) as session:
        assert [len(sms_to(session, n)) for n in numbers] == [1, 1, 1, 0]
        held_back = session.scalar(
            select(ServiceRequest).where(ServiceRequest.number == numbers[-1])
        )
        assert held_back is not None
        assert held_back.unconfirmed_reason == SMS_LIMITED
        # Only the overall limit raises an alert; one number over its own is routine.
        assert alerts(session) == []
    clock.advance(minutes=57)  # the first SMS is an hour old
    with transaction(session_factory) as session:
        assert sms_to(session, submit_request(session, catalog=catalog, now=clock.now())) == [
            MOBILE
        ]


@pytest.mark.usefixtures("demo_customers")
def test_an_sms_held_back_still_leaves_the_email_confirmation(
    session_factory: SessionFactory, catalog: Catalog, clock: FakeClock
) -> None:
    limited = replace(catalog, sms_limits=SmsLimits(per_destination_per_hour=1, per_hour=100))
    with transaction(session_factory) as session:
        submit_request(session, catalog=limited, now=clock.now())
        sr_number = submit_request(
            session, catalog=limited, now=clock.now(), customer_number=GERMAN_CUSTOMER
        )
        assert sms_to(session, sr_number) == []
        assert confirmation(session, sr_number, "email").status == ConfirmationStatus.QUEUED
        sr = session.scalar(select(ServiceRequest).where(ServiceRequest.number == sr_number))
        assert sr is not None
        assert sr.unconfirmed_reason is None


@pytest.mark.usefixtures("demo_customers")
def test_the_overall_hourly_limit_holds_sms_back_and_raises_one_alert_an_hour(
    session_factory: SessionFactory, catalog: Catalog, clock: FakeClock
) -> None:
    limited = replace(catalog, sms_limits=SmsLimits(per_destination_per_hour=3, per_hour=2))
    mobiles = [f"+491511234560{i}" for i in range(5)]
    numbers = []
    for mobile in mobiles:
        with transaction(session_factory) as session:
            numbers.append(
                submit_request(session, catalog=limited, now=clock.now(), callback_number=mobile)
            )
        clock.advance(seconds=10)
    with transaction(session_factory) as session:
        assert [sms_to(session, n) for n in numbers] == [[mobiles[0]], [mobiles[1]], [], [], []]
        [alert] = alerts(session)
        assert "[sms] per_hour" in alert.message
    clock.advance(minutes=61)
    with transaction(session_factory) as session:
        # A new hour: two more go out, the third is held back and alerts once more.
        for mobile in mobiles[:3]:
            submit_request(session, catalog=limited, now=clock.now(), callback_number=mobile)
        assert len(alerts(session)) == 2
