"""The worker watches callback promises and sends the notices once each, however many workers."""

from __future__ import annotations

import logging
import threading
from collections import Counter

import pytest
from sqlalchemy import select

from callbacks.calls import call_key, start_callback_call
from callbacks.claims import SYSTEM, claim_callback, record_disposition
from callbacks.lifecycle import Disposition
from callbacks.models import Callback
from callbacks.notices import CUSTOMER_NOTICE_KIND, NO_CUSTOMER_CHANNEL, UNSENT_ALERT
from callbacks.queries import callback_history
from config.dependencies import Dependencies
from config.mailer import SmtpMailer
from config.worker import Worker
from db.transaction import transaction
from db.work import Alert, WorkItem
from intake.models import OutboundCall, Role
from intake.outbound_calls import record_not_placed
from intake.ports import SendRejected
from ivr.twilio_rest import TwilioSenders
from tests.support.callback_rows import queued_callback, staff
from tests.support.fakes import FakeClock, FakeMessenger
from tests.support.intake_rows import GERMAN_CUSTOMER, GERMAN_MOBILE, submit_request
from tests.support.mock_twilio import MockTwilio
from tests.support.smtp import SmtpSink
from tests.worker.conftest import MakeDeps

MIA_MOBILE = "+4915199990002"
MAX_MOBILE = "+4915199990003"
BERLIN_LANDLINE = "+493012345678"


def add_managers(deps: Dependencies, clock: FakeClock) -> None:
    with transaction(deps.session_factory) as session:
        for name, phone in (("mia", MIA_MOBILE), ("max", MAX_MOBILE)):
            staff(
                session,
                name,
                now=clock.now(),
                role=Role.MANAGER,
                phone=phone,
                email=f"{name}@example.com",
            )


def queue(deps: Dependencies, clock: FakeClock, count: int = 1, **kwargs: str) -> list[int]:
    with transaction(deps.session_factory) as session:
        return [
            queued_callback(session, catalog=deps.catalog, now=clock.now(), **kwargs)
            for _ in range(count)
        ]


def sr_of(deps: Dependencies, callback_id: int) -> str:
    with transaction(deps.session_factory) as session:
        callback = session.get(Callback, callback_id)
        assert callback is not None
        return callback.sr_number


def run(*workers: Worker) -> None:
    """One watch period for every worker, then each drains what is due (one after the other)."""
    for worker in workers:
        worker.enqueue_periodic()
    for worker in workers:
        worker.tick()
    for worker in workers:
        worker.run_once()


def history(deps: Dependencies, callback_id: int) -> list[tuple[str, str | None]]:
    with transaction(deps.session_factory) as session:
        return [(e.action, e.reason) for e in callback_history(session, callback_id)]


def test_managers_are_warned_by_email_and_sms_with_what_they_need_and_nothing_about_the_caller(
    make_deps: MakeDeps,
    smtp_sink: SmtpSink,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    messenger = FakeMessenger(clock)
    deps = make_deps(messenger=messenger, mailer=SmtpMailer.from_url(smtp_sink.url))
    add_managers(deps, clock)
    [callback_id] = queue(deps, clock, description="Server startet nicht")
    sr_number = sr_of(deps, callback_id)
    worker = Worker(deps)
    caplog.set_level(logging.INFO)

    clock.advance(minutes=20)
    run(worker)
    worker.shutdown()

    texts = {m.to: m.body for m in messenger.sent if m.to != GERMAN_MOBILE}  # not the confirmation
    assert set(texts) == {MIA_MOBILE, MAX_MOBILE}
    sms = texts[MIA_MOBILE]
    assert sms == (
        f"Rückruf gefährdet: SR {sr_number} (Muster Maschinenbau GmbH, Deutschland) ist noch"
        " nicht übernommen, noch 10 Min. (fällig 25.11.2026 11:30 Uhr)."
    )
    mails = {m["To"]: m for m in smtp_sink.messages if "SR " in m["Subject"]}
    assert set(mails) == {"mia@example.com", "max@example.com"}
    mail = mails["mia@example.com"]
    assert mail["Subject"] == f"Rückruf gefährdet: SR {sr_number}, noch 10 Minuten"
    body = mail.get_content()
    assert "Muster Maschinenbau GmbH" in body
    assert "25.11.2026 11:30 Uhr" in body
    for private in ("Erika", GERMAN_MOBILE, "Server startet nicht"):
        assert private not in sms
        assert private not in body
        assert private not in caplog.text
    assert "***002" in caplog.text  # logs show the last digits only
    assert MIA_MOBILE not in caplog.text
    notes = [reason for action, reason in history(deps, callback_id) if action == "notify"]
    assert sorted(n.split(" (")[0] for n in notes) == [
        "warning to max by email",
        "warning to max by sms",
        "warning to mia by email",
        "warning to mia by sms",
    ]


def test_a_breach_is_recorded_once_and_the_managers_told_again_in_the_callers_region_language(
    make_deps: MakeDeps, smtp_sink: SmtpSink, clock: FakeClock
) -> None:
    messenger = FakeMessenger(clock)
    deps = make_deps(messenger=messenger, mailer=SmtpMailer.from_url(smtp_sink.url))
    with transaction(deps.session_factory) as session:
        staff(
            session,
            "sam",
            now=clock.now(),
            role=Role.MANAGER,
            region="us",
            phone="+12025550144",
            email="sam@example.com",
        )
        submit_request(
            session,
            catalog=deps.catalog,
            now=clock.now(),
            region="us",
            callback_number="+12025550143",
        )
        callback_id = session.scalar(select(Callback.id))
    assert callback_id is not None
    sr_number = sr_of(deps, callback_id)
    worker = Worker(deps)

    clock.advance(minutes=20)
    run(worker)
    clock.advance(minutes=12)  # two minutes past due
    run(worker)
    clock.advance(minutes=5)
    run(worker)
    worker.shutdown()

    to_sam = [m.body for m in messenger.sent if m.to == "+12025550144"]
    assert len(to_sam) == 2
    assert to_sam[1] == (
        f"Callback promise broken: SR {sr_number} (Muster Maschinenbau GmbH, United States) was"
        " due 11/25/2026 05:30 AM, no call started (2 min overdue)."
    )
    subjects = [m["Subject"] for m in smtp_sink.messages if "SR " in m["Subject"]]
    assert subjects == [
        f"Callback at risk: SR {sr_number}, 10 minutes left",
        f"Callback promise broken: SR {sr_number}",
    ]
    actions = [action for action, _ in history(deps, callback_id)]
    assert actions.count("warn") == actions.count("breach") == 1


def test_two_workers_ticking_at_once_send_each_warning_and_breach_once_per_manager_and_channel(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    messenger = FakeMessenger(clock)
    deps = [make_deps(messenger=messenger) for _ in range(2)]
    mailer = deps[0].mailer
    assert mailer is not deps[1].mailer
    add_managers(deps[0], clock)
    callbacks = queue(deps[0], clock, count=30)
    workers = [Worker(d, worker_id=f"w{n}", batch_size=4) for n, d in enumerate(deps)]

    # For 40 minutes, every 30 s: each worker inserts its period's row (one row for both),
    # then both tick at once, twice, each claiming what the other has not.
    for _ in range(40 * 2):
        clock.advance(seconds=30)
        for worker in workers:
            worker.enqueue_periodic()
        for _ in range(2):
            ticks = [threading.Thread(target=worker.tick) for worker in workers]
            for tick in ticks:
                tick.start()
            for tick in ticks:
                tick.join()
    for worker in workers:
        worker.shutdown()

    to_managers = [m for m in messenger.sent if m.to in (MIA_MOBILE, MAX_MOBILE)]
    sms = Counter((m.to, m.body.split(":")[0], m.body.split("SR ")[1][:8]) for m in to_managers)
    assert len(sms) == 2 * 2 * len(callbacks)  # 2 managers x (warning, breach) x callbacks
    assert set(sms.values()) == {1}
    mails = Counter(
        (m.to, m.subject)
        for d in deps
        for m in d.mailer.sent  # type: ignore[attr-defined]
        if "SR " in m.subject  # not the escalations' daily report
    )
    assert len(mails) == 2 * 2 * len(callbacks)
    assert set(mails.values()) == {1}
    with transaction(deps[0].session_factory) as session:
        states = Counter(
            session.scalars(
                select(WorkItem.state).where(WorkItem.kind == "callbacks.notify_manager")
            )
        )
    assert states == {"done": 2 * 2 * 2 * len(callbacks)}


def test_an_sms_whose_fate_was_unknown_is_found_among_those_sent_and_not_sent_again(
    make_deps: MakeDeps, twilio_senders: TwilioSenders, mock_twilio: MockTwilio, clock: FakeClock
) -> None:
    deps = make_deps(messenger=twilio_senders, dialer=twilio_senders)
    with transaction(deps.session_factory) as session:
        staff(session, "mia", now=clock.now(), role=Role.MANAGER, phone=MIA_MOBILE, email=None)
    [callback_id] = queue(deps, clock)
    worker = Worker(deps)
    worker.run_once()  # the customer's confirmation
    mock_twilio.reset()
    mock_twilio.drop_next("messages")  # sent, but the answer never comes back

    clock.advance(minutes=20)
    run(worker)
    clock.advance(seconds=20)
    run(worker)
    worker.shutdown()

    [sms] = mock_twilio.messages
    assert any(r.method == "GET" for r in mock_twilio.requests)
    notes = [reason for action, reason in history(deps, callback_id) if action == "notify"]
    assert notes == [f"warning to mia by sms ({sms.sid})"]


def exhaust_attempts(deps: Dependencies, clock: FakeClock, *callback_ids: int) -> None:
    """Three calls nobody answered: each callback closes unreachable."""
    with transaction(deps.session_factory) as session:
        ben, _ = staff(session, "ben", now=clock.now())
    for _ in range(3):
        for callback_id in callback_ids:
            with transaction(deps.session_factory) as session:
                claim_callback(session, callback_id, by=ben, now=clock.now(), catalog=deps.catalog)
                record_disposition(
                    session,
                    callback_id,
                    by=SYSTEM,
                    disposition=Disposition.NO_ANSWER,
                    now=clock.now(),
                    catalog=deps.catalog,
                )
        clock.advance(minutes=10)


def test_a_customer_out_of_attempts_gets_one_sms_with_the_sr_and_the_regions_number(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    messenger = FakeMessenger(clock)
    deps = make_deps(messenger=messenger)
    [callback_id] = queue(deps, clock)
    sr_number = sr_of(deps, callback_id)
    worker = Worker(deps)
    worker.run_once()  # the confirmations
    messenger.sent.clear()

    exhaust_attempts(deps, clock, callback_id)
    worker.run_once()
    worker.run_once()
    worker.shutdown()

    [sms] = messenger.sent
    assert sms.to == GERMAN_MOBILE
    assert sr_number in sms.body
    assert "+49 800 1006711" in sms.body
    assert ("notify", f"unreachable to customer by sms ({sms.sid})") in history(deps, callback_id)


@pytest.mark.usefixtures("demo_customers")
def test_a_customer_without_a_mobile_is_told_by_email_and_one_without_either_is_recorded(
    make_deps: MakeDeps, smtp_sink: SmtpSink, clock: FakeClock
) -> None:
    messenger = FakeMessenger(clock)
    deps = make_deps(messenger=messenger, mailer=SmtpMailer.from_url(smtp_sink.url))
    with transaction(deps.session_factory) as session:
        submit_request(
            session,
            catalog=deps.catalog,
            now=clock.now(),
            callback_number=BERLIN_LANDLINE,
            customer_number=GERMAN_CUSTOMER,
        )
        submit_request(
            session, catalog=deps.catalog, now=clock.now(), callback_number=BERLIN_LANDLINE
        )
        by_mail, no_way = session.scalars(select(Callback.id).order_by(Callback.id)).all()
    worker = Worker(deps)
    worker.run_once()
    smtp_sink_before = len(smtp_sink.messages)

    exhaust_attempts(deps, clock, by_mail, no_way)
    worker.run_once()
    worker.shutdown()

    [mail] = smtp_sink.messages[smtp_sink_before:]
    sr_number = sr_of(deps, by_mail)
    assert (
        mail["Subject"] == f"Wir konnten Sie zu Ihrer Support-Anfrage {sr_number} nicht erreichen"
    )
    assert "+49 800 1006711" in mail.get_content()
    assert messenger.sent == []
    assert ("notify", "unreachable to customer by email") in history(deps, by_mail)
    assert ("not_notified", f"unreachable: {NO_CUSTOMER_CHANNEL}") in history(deps, no_way)
    with transaction(deps.session_factory) as session:
        alerts = [(a.kind, a.subject) for a in session.scalars(select(Alert))]
    assert (UNSENT_ALERT, f"callback {no_way}") in alerts


def test_a_refused_customer_sms_is_given_up_at_once_and_the_history_says_why(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    messenger = FakeMessenger(clock)
    deps = make_deps(messenger=messenger)
    [callback_id] = queue(deps, clock)
    worker = Worker(deps)
    worker.run_once()
    messenger.failures.append(SendRejected(f"21610: {GERMAN_MOBILE} unsubscribed"))

    exhaust_attempts(deps, clock, callback_id)
    worker.run_once()
    worker.shutdown()

    with transaction(deps.session_factory) as session:
        state = session.scalar(select(WorkItem.state).where(WorkItem.kind == CUSTOMER_NOTICE_KIND))
    assert state == "failed"
    [reason] = [r for action, r in history(deps, callback_id) if action == "not_notified"]
    assert reason == "unreachable: customer not told: PermanentFailure: 21610: ***678 unsubscribed"


def test_the_watch_returns_unworked_claims_to_the_queue(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    deps = make_deps()
    [callback_id] = queue(deps, clock)
    with transaction(deps.session_factory) as session:
        ben, _ = staff(session, "ben", now=clock.now())
        claim_callback(session, callback_id, by=ben, now=clock.now(), catalog=deps.catalog)
    worker = Worker(deps)

    clock.advance(minutes=10, seconds=15)
    run(worker)
    worker.shutdown()

    assert [a for a, _ in history(deps, callback_id)][:2] == ["claim", "expire"]
    with transaction(deps.session_factory) as session:
        callback = session.get(Callback, callback_id)
        assert callback is not None
        assert callback.status == "queued"


def test_the_watch_returns_a_callback_whose_agents_call_was_never_placed_to_the_queue(
    make_deps: MakeDeps, clock: FakeClock
) -> None:
    deps = make_deps()
    [callback_id] = queue(deps, clock)
    with transaction(deps.session_factory) as session:
        ben, _ = staff(session, "ben", now=clock.now())
        claim_callback(session, callback_id, by=ben, now=clock.now(), catalog=deps.catalog)
        start_callback_call(session, callback_id, by=ben, now=clock.now(), catalog=deps.catalog)
    with transaction(deps.session_factory) as session:
        call_id = session.scalar(
            select(OutboundCall.id).where(OutboundCall.key == call_key(callback_id, 1))
        )
        assert call_id is not None
        record_not_placed(session, call_id, error="21211 invalid To", final=True, now=clock.now())
    worker = Worker(deps)

    clock.advance(seconds=15)
    run(worker)
    worker.shutdown()

    assert [a for a, _ in history(deps, callback_id)][-1] == "call_lost"
    with transaction(deps.session_factory) as session:
        callback = session.get(Callback, callback_id)
        assert callback is not None
        assert callback.status == "queued"
