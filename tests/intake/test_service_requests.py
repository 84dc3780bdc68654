"""Submitting a message: SR, confirmations and callback in one transaction, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from callbacks.models import Callback
from callbacks.services import CallbackQueue
from db.transaction import transaction
from db.work import WorkItem
from intake.call_steps import MessageKind
from intake.confirmations import NO_CONFIRMATION_CHANNEL, WORK_KIND
from intake.messages import record_field
from intake.models import Confirmation, Message, ServiceRequest
from intake.service_requests import find_service_request, service_request_detail, submit_message
from intake.sr_numbers import is_plausible_sr_number

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
GERMAN_MOBILE = "+4915112345678"
OTHER_GERMAN_MOBILE = "+4917612345678"
BERLIN_LANDLINE = "+4930123456"
MUNICH_LANDLINE = "+4989123456"
# Demo customers (config/demo/customers.csv): one with an e-mail address on file, one without.
WITH_EMAIL = "4711001"
WITHOUT_EMAIL = "4711002"


def add_message(session, **fields) -> Message:
    values = {
        "call_sid": "CA" + "1" * 32,
        "kind": MessageKind.NEW.value,
        "region": "de",
        "language": "de-DE",
        "customer_number": "4711001",
        "is_identified": True,
        "product": "vSphere",
        "product_line": "datacenter",
        "contact_name": "Erika Mustermann",
        "company": "Muster Maschinenbau GmbH",
        "callback_number": "+4915112345678",
        "callback_number_source": "caller_id",
        "description": "Der Host startet nicht.",
        "answer_channel": "phone",
        "requested_at": NOW - timedelta(minutes=3),
        "callback_asked_at": NOW - timedelta(minutes=2),
        "created_at": NOW - timedelta(minutes=2),
        "updated_at": NOW - timedelta(minutes=1),
    }
    values.update(fields)
    message = Message(**values)
    session.add(message)
    session.flush()
    return message


def submit(session_factory, catalog, *, now=NOW, caller_id=None, **fields):
    with transaction(session_factory) as session:
        message = add_message(session, **fields)
        submitted = submit_message(
            session,
            message,
            catalog=catalog,
            scheduler=CallbackQueue(catalog),
            now=now,
            caller_id=caller_id,
        )
        return submitted, message.id


def resubmit(session_factory, catalog, message_id, *, now, caller_id=None, **fields):
    """Submit a stored message again, after storing ``fields`` as late answers."""
    with transaction(session_factory) as session:
        message = session.get(Message, message_id)
        if fields:
            record_field(message, now=now, **fields)
        return submit_message(
            session,
            message,
            catalog=catalog,
            scheduler=CallbackQueue(catalog),
            now=now,
            caller_id=caller_id,
        )


def confirmations(session_factory) -> list[tuple[str, str]]:
    """(channel, address) of every confirmation, by channel."""
    with transaction(session_factory) as session:
        rows = session.scalars(select(Confirmation).order_by(Confirmation.channel, Confirmation.id))
        return [(c.channel, c.address) for c in rows]


def confirmation_work(session_factory) -> list[str]:
    """The keys of the work rows that send confirmations, sorted."""
    with transaction(session_factory) as session:
        query = select(WorkItem.key).where(WorkItem.kind == WORK_KIND)
        return sorted(session.scalars(query))


def unconfirmed_reason(session_factory, sr_number) -> str | None:
    with transaction(session_factory) as session:
        detail = service_request_detail(session, sr_number)
    assert detail is not None
    return detail.unconfirmed_reason


def count(session_factory, model) -> int:
    with transaction(session_factory) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_new_message_becomes_an_sr_with_its_fields(session_factory, catalog, demo_customers):
    submitted, _ = submit(session_factory, catalog)
    assert submitted.is_new_sr
    assert is_plausible_sr_number(submitted.sr_number)
    with transaction(session_factory) as session:
        sr = find_service_request(session, submitted.sr_number)
        assert sr is not None
        assert (sr.region, sr.language, sr.customer_number, sr.is_identified) == (
            "de",
            "de-DE",
            "4711001",
            True,
        )
        assert (sr.company, sr.contact_name, sr.callback_number) == (
            "Muster Maschinenbau GmbH",
            "Erika Mustermann",
            "+4915112345678",
        )
        assert (sr.product, sr.product_line, sr.description) == (
            "vSphere",
            "datacenter",
            "Der Host startet nicht.",
        )
        assert sr.email == "it-betrieb@muster-maschinenbau.example"
        assert sr.created_at == NOW


def test_the_callback_is_due_30_minutes_after_the_caller_asked_for_24x7_products(
    session_factory, catalog, demo_customers
):
    # Asked two minutes before the message became an SR: the promise counts from the asking.
    submitted, message_id = submit(session_factory, catalog)
    assert submitted.callback_due_at == NOW + timedelta(minutes=28)
    with transaction(session_factory) as session:
        [callback] = session.scalars(select(Callback)).all()
        assert (callback.sr_number, callback.message_id, callback.status) == (
            submitted.sr_number,
            message_id,
            "queued",
        )
        assert callback.callback_number == "+4915112345678"
        assert callback.due_at == NOW + timedelta(minutes=28)
        # The caller keeps the place in line they had when they called.
        assert callback.requested_at == NOW - timedelta(minutes=3)
        assert callback.created_at == NOW


def test_a_message_left_before_the_anchor_was_kept_counts_from_when_it_was_opened(
    session_factory, catalog, demo_customers
):
    submitted, _ = submit(session_factory, catalog, callback_asked_at=None)
    assert submitted.callback_due_at == NOW - timedelta(minutes=2) + timedelta(minutes=30)


def test_the_callback_for_desktop_products_is_due_in_24_business_hours(
    session_factory, catalog, demo_customers
):
    # Wed 11:00 Berlin: 7 h left on Wednesday, 12 h on Thursday, 5 h on Friday until 11:00.
    submitted, _ = submit(
        session_factory,
        catalog,
        product="Workstation",
        product_line="desktop",
        callback_asked_at=NOW,
    )
    assert submitted.callback_due_at == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def test_confirmations_go_by_sms_to_a_mobile_and_by_email_on_file(
    session_factory, catalog, demo_customers
):
    submitted, message_id = submit(session_factory, catalog)
    with transaction(session_factory) as session:
        rows = session.scalars(select(Confirmation).order_by(Confirmation.channel)).all()
        assert [(c.channel, c.address, c.status, c.message_id) for c in rows] == [
            ("email", "it-betrieb@muster-maschinenbau.example", "queued", message_id),
            ("sms", "+4915112345678", "queued", message_id),
        ]
        assert all(c.sr_number == submitted.sr_number for c in rows)
        work = session.scalars(select(WorkItem)).all()
        assert sorted(w.kind for w in work) == ["confirmation.send", "confirmation.send"]
        assert all(w.due_at == NOW for w in work)


def test_confirmation_sms_goes_to_a_mobile_caller_id_when_the_callback_number_is_a_landline(
    session_factory, catalog, demo_customers
):
    submitted, _ = submit(
        session_factory,
        catalog,
        customer_number=WITHOUT_EMAIL,
        callback_number=BERLIN_LANDLINE,
        callback_number_source="typed",
        caller_id=GERMAN_MOBILE,
    )
    assert confirmations(session_factory) == [("sms", GERMAN_MOBILE)]
    assert unconfirmed_reason(session_factory, submitted.sr_number) is None
    with transaction(session_factory) as session:
        # The callback still goes to the number the caller chose.
        [callback] = session.scalars(select(Callback)).all()
        assert callback.callback_number == BERLIN_LANDLINE


def test_confirmation_sms_goes_to_a_mobile_callback_number_rather_than_the_caller_id(
    session_factory, catalog, demo_customers
):
    submit(
        session_factory,
        catalog,
        customer_number=WITHOUT_EMAIL,
        callback_number=OTHER_GERMAN_MOBILE,
        callback_number_source="typed",
        caller_id=GERMAN_MOBILE,
    )
    assert confirmations(session_factory) == [("sms", OTHER_GERMAN_MOBILE)]


@pytest.mark.parametrize("caller_id", [None, MUNICH_LANDLINE], ids=["withheld", "landline"])
def test_a_landline_without_a_mobile_caller_id_or_email_gets_no_confirmation_and_the_sr_says_why(
    session_factory, catalog, demo_customers, caller_id
):
    submitted, message_id = submit(
        session_factory,
        catalog,
        customer_number=WITHOUT_EMAIL,
        callback_number=BERLIN_LANDLINE,
        caller_id=caller_id,
    )
    assert confirmations(session_factory) == []
    assert confirmation_work(session_factory) == []
    assert count(session_factory, Callback) == 1
    assert unconfirmed_reason(session_factory, submitted.sr_number) == NO_CONFIRMATION_CHANNEL
    # Submitting again finds no channel either, and says so once.
    resubmit(session_factory, catalog, message_id, now=NOW + timedelta(minutes=1))
    assert confirmations(session_factory) == []
    assert unconfirmed_reason(session_factory, submitted.sr_number) == NO_CONFIRMATION_CHANNEL


def test_the_no_confirmation_reason_is_short_and_fits_its_column():
    width = ServiceRequest.__table__.c.unconfirmed_reason.type.length
    assert NO_CONFIRMATION_CHANNEL.startswith("no confirmation possible: ")
    assert len(NO_CONFIRMATION_CHANNEL) <= width


def test_an_email_on_file_alone_confirms_the_sr_without_a_reason(
    session_factory, catalog, demo_customers
):
    submitted, _ = submit(
        session_factory, catalog, customer_number=WITH_EMAIL, callback_number=BERLIN_LANDLINE
    )
    assert confirmations(session_factory) == [("email", "it-betrieb@muster-maschinenbau.example")]
    assert unconfirmed_reason(session_factory, submitted.sr_number) is None


def test_a_mobile_given_late_queues_the_sms_and_clears_the_reason(
    session_factory, catalog, demo_customers
):
    # Settled while the caller was still typing (quiet caller, early status callback): no channel.
    submitted, message_id = submit(
        session_factory, catalog, customer_number=WITHOUT_EMAIL, callback_number=BERLIN_LANDLINE
    )
    assert unconfirmed_reason(session_factory, submitted.sr_number) == NO_CONFIRMATION_CHANNEL

    later = NOW + timedelta(minutes=1)
    again = resubmit(
        session_factory,
        catalog,
        message_id,
        now=later,
        callback_number=GERMAN_MOBILE,
        callback_number_source="typed",
    )
    assert again.sr_number == submitted.sr_number
    assert confirmations(session_factory) == [("sms", GERMAN_MOBILE)]
    assert confirmation_work(session_factory) == [
        f"confirmation:{submitted.sr_number}:{message_id}:sms"
    ]
    assert unconfirmed_reason(session_factory, submitted.sr_number) is None
    with transaction(session_factory) as session:
        sr = find_service_request(session, submitted.sr_number)
        assert sr.callback_number == GERMAN_MOBILE


def test_one_sms_per_message_keeps_the_caller_id_when_a_mobile_is_typed_after_it_was_queued(
    session_factory, catalog, demo_customers
):
    submitted, message_id = submit(
        session_factory,
        catalog,
        customer_number=WITHOUT_EMAIL,
        callback_number=BERLIN_LANDLINE,
        callback_number_source="typed",
        caller_id=GERMAN_MOBILE,
    )
    resubmit(
        session_factory,
        catalog,
        message_id,
        now=NOW + timedelta(minutes=1),
        caller_id=GERMAN_MOBILE,
        callback_number=OTHER_GERMAN_MOBILE,
    )
    # The SMS may already be on its way to the caller ID; a second one would confirm twice.
    assert confirmations(session_factory) == [("sms", GERMAN_MOBILE)]
    assert confirmation_work(session_factory) == [
        f"confirmation:{submitted.sr_number}:{message_id}:sms"
    ]


def test_a_later_confirmed_message_clears_the_reason_of_the_sr_it_quotes(
    session_factory, catalog, demo_customers
):
    first, _ = submit(
        session_factory, catalog, customer_number=WITHOUT_EMAIL, callback_number=BERLIN_LANDLINE
    )
    assert unconfirmed_reason(session_factory, first.sr_number) == NO_CONFIRMATION_CHANNEL
    second, second_id = submit(
        session_factory,
        catalog,
        call_sid="CA" + "2" * 32,
        customer_number=WITHOUT_EMAIL,
        sr_reference=first.sr_number,
        callback_number=BERLIN_LANDLINE,
        caller_id=GERMAN_MOBILE,
        now=NOW + timedelta(hours=1),
    )
    assert second.sr_number == first.sr_number
    assert unconfirmed_reason(session_factory, first.sr_number) is None
    with transaction(session_factory) as session:
        [row] = session.scalars(select(Confirmation)).all()
        assert (row.message_id, row.address) == (second_id, GERMAN_MOBILE)


def test_an_unconfirmable_message_quoting_a_confirmed_sr_gives_it_no_reason(
    session_factory, catalog, demo_customers
):
    # The caller holds the SR number in writing from the first confirmation.
    first, _ = submit(session_factory, catalog, customer_number=WITHOUT_EMAIL)
    submit(
        session_factory,
        catalog,
        call_sid="CA" + "2" * 32,
        customer_number=WITHOUT_EMAIL,
        sr_reference=first.sr_number,
        callback_number=BERLIN_LANDLINE,
        now=NOW + timedelta(hours=1),
    )
    assert confirmations(session_factory) == [("sms", GERMAN_MOBILE)]
    assert unconfirmed_reason(session_factory, first.sr_number) is None


def test_submitting_the_same_message_twice_changes_nothing(
    session_factory, catalog, demo_customers
):
    first, message_id = submit(session_factory, catalog)
    with transaction(session_factory) as session:
        message = session.get(Message, message_id)
        again = submit_message(
            session,
            message,
            catalog=catalog,
            scheduler=CallbackQueue(catalog),
            now=NOW + timedelta(minutes=5),
        )
    assert again.sr_number == first.sr_number
    assert not again.is_new_sr
    assert again.callback_due_at == first.callback_due_at
    assert count(session_factory, ServiceRequest) == 1
    assert count(session_factory, Callback) == 1
    assert count(session_factory, Confirmation) == 2


def test_a_submitted_message_is_marked_until_the_caller_adds_to_it(
    session_factory, catalog, demo_customers
):
    _, message_id = submit(session_factory, catalog)
    with transaction(session_factory) as session:
        message = session.get(Message, message_id)
        assert message.is_submitted
        record_field(message, now=NOW + timedelta(minutes=1), description="Jetzt auch vMotion.")
        assert not message.is_submitted
        submit_message(
            session,
            message,
            catalog=catalog,
            scheduler=CallbackQueue(catalog),
            now=NOW + timedelta(minutes=1),
        )
        assert message.is_submitted
        sr = find_service_request(session, message.sr_number)
        assert sr.description == "Jetzt auch vMotion."


def test_a_quoted_sr_gets_the_message_attached_instead_of_a_new_sr(
    session_factory, catalog, demo_customers
):
    first, _ = submit(session_factory, catalog)
    second, second_id = submit(
        session_factory,
        catalog,
        call_sid="CA" + "2" * 32,
        sr_reference=first.sr_number,
        description="Jetzt auch der zweite Host.",
        callback_asked_at=NOW + timedelta(hours=1),
        now=NOW + timedelta(hours=1),
    )
    assert second.sr_number == first.sr_number
    assert not second.is_new_sr
    assert second.callback_due_at == NOW + timedelta(hours=1, minutes=30)
    assert count(session_factory, ServiceRequest) == 1
    with transaction(session_factory) as session:
        detail = service_request_detail(session, first.sr_number)
    assert detail is not None
    # The SR keeps its first description; the new message is listed with it.
    assert detail.description == "Der Host startet nicht."
    assert [m.description for m in detail.messages] == [
        "Der Host startet nicht.",
        "Jetzt auch der zweite Host.",
    ]
    assert detail.messages[1].id == second_id


def test_an_update_to_an_existing_sr_promises_no_callback(session_factory, catalog, demo_customers):
    first, _ = submit(session_factory, catalog)
    update, _ = submit(
        session_factory,
        catalog,
        call_sid="CA" + "3" * 32,
        kind=MessageKind.UPDATE.value,
        sr_reference=first.sr_number,
    )
    assert update.sr_number == first.sr_number
    assert update.callback_due_at is None
    assert count(session_factory, Callback) == 1


def test_an_unknown_quoted_sr_still_gets_a_new_sr_that_records_the_reference(
    session_factory, catalog, demo_customers
):
    submitted, _ = submit(session_factory, catalog, sr_reference="10000024")
    assert submitted.is_new_sr
    with transaction(session_factory) as session:
        sr = find_service_request(session, submitted.sr_number)
        assert sr is not None
        assert sr.sr_reference == "10000024"


def test_a_message_without_a_callback_number_gets_an_sr_but_no_callback(
    session_factory, catalog, demo_customers
):
    submitted, _ = submit(session_factory, catalog, callback_number=None)
    assert submitted.callback_due_at is None
    assert count(session_factory, Callback) == 0
    assert count(session_factory, ServiceRequest) == 1


def test_nothing_is_kept_when_the_transaction_fails(session_factory, catalog, demo_customers):
    def submit_then_fail() -> None:
        with transaction(session_factory) as session:
            message = add_message(session)
            submit_message(
                session, message, catalog=catalog, scheduler=CallbackQueue(catalog), now=NOW
            )
            raise RuntimeError("the commit never happens")

    with pytest.raises(RuntimeError):
        submit_then_fail()
    assert count(session_factory, ServiceRequest) == 0
    assert count(session_factory, Callback) == 0
    assert count(session_factory, Confirmation) == 0
    assert count(session_factory, Message) == 0
