"""Ringing the duty managers end to end: the worker places each ring at the local Twilio mock,
the signed call walker answers it as the duty manager's phone."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import time, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

import escalations.jobs
from config.dependencies import Dependencies
from config.settings import LOCAL_AUTH_TOKEN
from config.worker import Worker
from db.transaction import transaction
from escalations.records import Escalation, EscalationEvent, EscalationReason, EscalationRing
from escalations.ringing import STALLED_AFTER, settle_stalled_rings
from escalations.rosters import RosterSpec, ShiftSpec, replace_roster
from escalations.routing import RosterKind
from intake.models import OutboundCall, OutboundCallStatus, Role
from intake.staff import StaffMember, add_user, set_active
from ivr.call_walker import CallWalker
from ivr.prompts import spoken_digits
from tests.conftest import BASE_URL
from tests.support.escalation_rows import rung_escalation
from tests.support.intake_rows import GERMAN_MOBILE, submit_request
from tests.support.mock_twilio import MockCall, MockTwilio

GERMAN_LINE = "+498001006711"
MIA, MAX = "+4915122220001", "+4915122220002"
RITA = "+493012345678"  # a landline: told by e-mail
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)


@pytest.fixture
def deps(twilio_deps) -> Dependencies:
    return twilio_deps


@pytest.fixture
def worker(deps) -> Iterator[Worker]:
    runner = Worker(deps)
    yield runner
    runner.shutdown()


@pytest.fixture
def team(deps, clock) -> dict[str, StaffMember]:
    """mia (Mia Weber to callers) and max on duty all week, rita the regional escalation
    manager (the fallback)."""
    now = clock.now()
    with transaction(deps.session_factory) as session:
        people = {
            name: add_user(
                session,
                name=name,
                role=Role.MANAGER,
                now=now,
                phone=phone,
                email=f"{name}@example.com",
                region="de",
                display_name="Mia Weber" if name == "mia" else None,
            )[0]
            for name, phone in (("mia", MIA), ("max", MAX), ("rita", RITA))
        }
        replace_roster(
            session,
            RosterSpec(
                region="de",
                kind=RosterKind.DUTY,
                members=("mia", "max"),
                fallback="rita",
                shifts=(ShiftSpec(EVERY_DAY, time(0), time(0)),),
            ),
            by="test",
            now=now,
        )
    return people


@pytest.fixture
def escalate(deps, catalog, clock, team, worker, mock_twilio) -> Callable[[], int]:
    """A customer's escalation of a German SR, raised and its first ring placed: its id."""

    def raise_one() -> int:
        with transaction(deps.session_factory) as session:
            escalation_id = rung_escalation(
                session, catalog=catalog, now=clock.now(), contact_number=GERMAN_MOBILE
            )
        worker.run_once()
        return escalation_id

    return raise_one


def escalation(deps, escalation_id: int) -> Escalation:
    with transaction(deps.session_factory) as session:
        row = session.get(Escalation, escalation_id)
        assert row is not None
        session.expunge(row)
        return row


def rings(deps, escalation_id: int) -> list[tuple[int, str, str | None]]:
    with transaction(deps.session_factory) as session:
        rows = session.scalars(
            select(EscalationRing)
            .where(EscalationRing.escalation_id == escalation_id)
            .order_by(EscalationRing.seq)
        )
        return [(r.seq, r.name, r.outcome) for r in rows]


def actions(deps, escalation_id: int) -> list[str]:
    with transaction(deps.session_factory) as session:
        return list(
            session.scalars(
                select(EscalationEvent.action)
                .where(EscalationEvent.escalation_id == escalation_id)
                .order_by(EscalationEvent.id)
            )
        )


def ring_call(mock_twilio: MockTwilio, to: str) -> MockCall:
    """The latest call the mock accepted to ``to``."""
    return [c for c in mock_twilio.calls if c.to == to][-1]


# -- the first ring ------------------------------------------------------------------------------


def test_the_first_duty_manager_is_rung_from_the_region_number_with_machine_detection(
    deps, escalate, mock_twilio
) -> None:
    escalation_id = escalate()
    [call] = mock_twilio.calls
    assert (call.to, call.from_, call.timeout) == (MIA, GERMAN_LINE, 25)
    assert call.url == f"{BASE_URL}/ivr/manager/escalation?escalation={escalation_id}&ring=1"
    assert call.form.get("MachineDetection") == ["Enable"]
    assert call.status_callback is not None
    assert parse_qs(urlsplit(call.status_callback).query)["ring"] == ["1"]
    assert rings(deps, escalation_id) == [(1, "mia", None)]
    assert escalation(deps, escalation_id).ring_plan == [
        {"user_id": 1, "name": "mia", "phone": MIA},
        {"user_id": 2, "name": "max", "phone": MAX},
        {"user_id": 3, "name": "rita", "phone": RITA},
    ]


def test_the_duty_manager_hears_the_summary_presses_1_and_the_customer_is_told(
    deps, escalate, mock_twilio, rung_phone, worker, de, messenger, clock
) -> None:
    escalation_id = escalate()
    clock.advance(timedelta(seconds=150))
    call = ring_call(mock_twilio, MIA)
    phone = rung_phone(call)
    heard = phone.answer(call.url, answered_by="human")
    sr_number = escalation(deps, escalation_id).sr_number
    assert heard == [
        de.text("manager_whisper_intro", sr_number=spoken_digits(sr_number)),
        de.text("manager_whisper_company", company="Muster Maschinenbau GmbH"),
        de.text("manager_reason_production_down"),
        de.text("manager_whisper_waiting", time=de.text("promise_minutes", count="2")),
        de.text("manager_press"),
    ]
    assert phone.press("3")[-1] == de.text("manager_press")  # heard again
    assert phone.press("1") == [de.text("manager_accepted")]
    assert phone.ended  # its status callback (completed) followed: nothing more changed

    row = escalation(deps, escalation_id)
    assert (row.status, row.owner_id) == ("accepted", 1)
    assert rings(deps, escalation_id) == [(1, "mia", "accepted")]
    worker.run_once()
    assert len(mock_twilio.calls) == 1  # nobody else is rung
    # Besides the SR's own confirmation, one SMS: who has the escalation.
    [sms] = [m for m in messenger.sent if m.to == GERMAN_MOBILE and "Eskalation" in m.body]
    assert sms.body == de.text(
        "escalation_accepted_customer_sms",
        sr_number=sr_number,
        name="Mia Weber",
        number="+49 800 1006711",
    )
    assert actions(deps, escalation_id)[-1] == "told"


def test_a_rung_manager_no_longer_staff_who_presses_1_passes_it_on_to_the_next(
    deps, escalate, mock_twilio, rung_phone, clock, de
) -> None:
    escalation_id = escalate()
    call = ring_call(mock_twilio, MIA)
    with transaction(deps.session_factory) as session:
        set_active(session, name="mia", active=False)  # disabled while her phone rang
    phone = rung_phone(call)
    phone.answer(call.url, answered_by="human")

    assert phone.press("1") == [de.text("manager_gone")]
    assert escalation(deps, escalation_id).status == "raised"
    assert rings(deps, escalation_id) == [(1, "mia", "passed"), (2, "max", None)]


# -- passing it on -------------------------------------------------------------------------------


def test_a_pass_rings_the_next_person_at_once_and_only_once(
    deps, escalate, mock_twilio, rung_phone, worker, de
) -> None:
    escalation_id = escalate()
    call = ring_call(mock_twilio, MIA)
    phone = rung_phone(call)
    phone.answer(call.url)
    assert phone.press("2") == [de.text("manager_passed")]
    worker.run_once()
    assert [c.to for c in mock_twilio.calls] == [MIA, MAX]
    second = ring_call(mock_twilio, MAX)
    assert second.url.endswith(f"escalation={escalation_id}&ring=2")
    assert rings(deps, escalation_id) == [(1, "mia", "passed"), (2, "max", None)]


@pytest.mark.parametrize(
    ("status", "outcome"), [("no-answer", "no_answer"), ("busy", "busy"), ("failed", "no_answer")]
)
def test_no_answer_or_busy_rings_the_next_person_and_a_repeated_report_changes_nothing(
    deps, escalate, mock_twilio, rung_phone, worker, status, outcome
) -> None:
    escalation_id = escalate()
    call = ring_call(mock_twilio, MIA)
    rung_phone(call).not_answered(status)
    rung_phone(call).not_answered(status)  # Twilio sent it twice
    worker.run_once()
    assert [c.to for c in mock_twilio.calls] == [MIA, MAX]
    assert rings(deps, escalation_id) == [(1, "mia", outcome), (2, "max", None)]


def test_an_answering_machine_is_hung_up_on_and_the_next_person_rung(
    deps, escalate, mock_twilio, rung_phone, worker
) -> None:
    escalation_id = escalate()
    call = ring_call(mock_twilio, MIA)
    phone = rung_phone(call)
    assert phone.answer(call.url, answered_by="machine_end_beep") == []
    assert phone.ended
    worker.run_once()
    assert [c.to for c in mock_twilio.calls] == [MIA, MAX]
    assert rings(deps, escalation_id) == [(1, "mia", "machine"), (2, "max", None)]


def test_silence_three_times_passes_it_on(
    deps, escalate, mock_twilio, rung_phone, worker, de
) -> None:
    escalation_id = escalate()
    call = ring_call(mock_twilio, MIA)
    phone = rung_phone(call)
    phone.answer(call.url)
    phone.silence()
    phone.silence()
    assert phone.silence() == [de.text("manager_no_key")]
    worker.run_once()
    assert rings(deps, escalation_id) == [(1, "mia", "no_answer"), (2, "max", None)]


# -- rounds, and nobody taking it ----------------------------------------------------------------


def test_after_every_round_the_escalation_is_unowned_and_everybody_told(
    deps, escalate, mock_twilio, rung_phone, worker, messenger, mailer, de
) -> None:
    escalation_id = escalate()
    expected = [MIA, MAX, RITA, MIA, MAX, RITA]  # two rounds: on duty, then the fallback
    for n, number in enumerate(expected, start=1):
        call = mock_twilio.calls[n - 1]
        assert call.to == number
        rung_phone(call).not_answered("no-answer")
        worker.run_once()
    assert len(mock_twilio.calls) == len(expected)  # no seventh ring
    row = escalation(deps, escalation_id)
    assert (row.status, row.owner_id) == ("unowned", None)
    assert [r[2] for r in rings(deps, escalation_id)] == ["no_answer"] * 6
    assert "flag_unowned" in actions(deps, escalation_id)
    # An SMS to each mobile on the roster, an e-mail to the landline's owner.
    texts = {m.to: m.body for m in messenger.sent if m.to != GERMAN_MOBILE}
    assert set(texts) == {MIA, MAX}
    assert texts[MIA].startswith(f"Eskalation {escalation_id} ")
    assert [m.to for m in mailer.sent if "niemand" in m.subject] == ["rita@example.com"]
    # Anyone rung may still take it: mia calls back in on her first ring's call.
    first = mock_twilio.calls[0]
    late = rung_phone(first)
    late.answer(first.url)
    assert late.press("1") == [de.text("manager_accepted")]
    assert escalation(deps, escalation_id).status == "accepted"


# -- first accept wins ---------------------------------------------------------------------------


def test_two_duty_managers_pressing_1_one_after_the_other_the_second_hears_who_has_it(
    deps, escalate, mock_twilio, rung_phone, worker, de, clock
) -> None:
    escalation_id = escalate()
    # mia's ring gets no report: the worker's backstop moves on to max.
    clock.advance(STALLED_AFTER)
    worker.run_once()
    mia_call, max_call = ring_call(mock_twilio, MIA), ring_call(mock_twilio, MAX)
    mia, max_ = rung_phone(mia_call), rung_phone(max_call)
    mia.answer(mia_call.url)  # a late pick-up
    max_.answer(max_call.url)
    assert max_.press("1") == [de.text("manager_accepted")]
    assert mia.press("1") == [de.text("manager_taken", name="max")]
    row = escalation(deps, escalation_id)
    assert (row.status, row.owner_id) == ("accepted", 2)
    assert actions(deps, escalation_id).count("accept") == 1


def test_two_duty_managers_pressing_1_at_once_give_it_to_exactly_one(
    deps, escalate, mock_twilio, app, worker, clock, de
) -> None:
    escalation_id = escalate()
    clock.advance(STALLED_AFTER)
    worker.run_once()
    calls = [ring_call(mock_twilio, MIA), ring_call(mock_twilio, MAX)]
    phones: list[CallWalker] = []
    for call in calls:
        client = app.test_client()

        def transport(url, form, headers, client=client):
            response = client.post(url, data=form, headers=headers)
            return response.status_code, response.get_data(as_text=True)

        phone = CallWalker(
            transport=transport,
            base_url=BASE_URL,
            auth_token=LOCAL_AUTH_TOKEN,
            to=call.to,
            from_=call.from_,
            call_sid=call.sid,
            status_callback=call.status_callback,
        )
        phones.append(phone)
    for phone, call in zip(phones, calls, strict=True):
        phone.answer(call.url)
    heard: dict[int, list[str]] = {}
    start = threading.Barrier(2)

    def press(i: int) -> None:
        start.wait()
        heard[i] = phones[i].press("1")

    threads = [threading.Thread(target=press, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answers = sorted(h[0] for h in heard.values())
    owner = escalation(deps, escalation_id).owner_id
    name = {1: "Mia Weber", 2: "max"}[owner or 0]  # as the other manager hears it
    assert answers == sorted([de.text("manager_accepted"), de.text("manager_taken", name=name)])
    assert actions(deps, escalation_id).count("accept") == 1


# -- a ring never placed -------------------------------------------------------------------------


def test_a_ring_twilio_refused_for_good_moves_on_at_the_next_watch(
    deps, catalog, clock, team, worker, mock_twilio
) -> None:
    mock_twilio.fail_next("calls", status=400, code=21211, message="Invalid 'To' Phone Number")
    with transaction(deps.session_factory) as session:
        escalation_id = rung_escalation(
            session, catalog=catalog, now=clock.now(), reason=EscalationReason.OTHER
        )
    worker.run_once()  # the create is refused for good: the call failed
    clock.advance(timedelta(minutes=1))
    worker.run_once()  # the watch sees it and rings max
    assert [c.to for c in mock_twilio.calls] == [MAX]
    assert rings(deps, escalation_id) == [(1, "mia", "not_placed"), (2, "max", None)]


def test_a_ring_whose_call_may_have_been_placed_is_waited_out_before_the_next_ring(
    deps, catalog, clock, team, worker, mock_twilio
) -> None:
    with transaction(deps.session_factory) as session:
        escalation_id = rung_escalation(
            session, catalog=catalog, now=clock.now(), reason=EscalationReason.OTHER
        )
        # The worker died while asking Twilio: mia's phone may be ringing.
        call = session.scalars(select(OutboundCall)).one()
        call.status = OutboundCallStatus.UNCERTAIN.value
    clock.advance(timedelta(minutes=1))
    worker.run_once()  # the watch: nobody else is rung over a call that may be ringing
    assert mock_twilio.calls == []
    assert rings(deps, escalation_id) == [(1, "mia", None)]

    clock.advance(STALLED_AFTER)
    worker.run_once()  # no report within the time: max is rung, mia never again
    assert [c.to for c in mock_twilio.calls] == [MAX]
    assert rings(deps, escalation_id) == [(1, "mia", "no_answer"), (2, "max", None)]


def test_a_ring_given_up_before_its_call_was_placed_is_never_placed(
    deps, catalog, clock, team, worker, mock_twilio
) -> None:
    with transaction(deps.session_factory) as session:
        escalation_id = rung_escalation(
            session, catalog=catalog, now=clock.now(), reason=EscalationReason.OTHER
        )
    clock.advance(STALLED_AFTER)  # no worker placed mia's call meanwhile
    with transaction(deps.session_factory) as session:
        assert settle_stalled_rings(session, now=clock.now(), catalog=catalog) == [escalation_id]
    worker.run_once()

    assert [c.to for c in mock_twilio.calls] == [MAX]  # mia's late call would ring over max's
    assert rings(deps, escalation_id) == [(1, "mia", "no_answer"), (2, "max", None)]


def test_the_ring_backstop_runs_when_the_rest_of_the_watch_fails(
    deps, catalog, clock, team, worker, mock_twilio, monkeypatch
) -> None:
    mock_twilio.fail_next("calls", status=400, code=21211, message="Invalid 'To' Phone Number")
    with transaction(deps.session_factory) as session:
        escalation_id = rung_escalation(
            session, catalog=catalog, now=clock.now(), reason=EscalationReason.OTHER
        )
    worker.run_once()  # the create is refused for good: the call failed

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a region left the configuration")

    monkeypatch.setattr(escalations.jobs, "watch_escalations", broken)
    clock.advance(timedelta(minutes=1))
    worker.run_once()  # the reminders fail; the rings still move on

    assert [c.to for c in mock_twilio.calls] == [MAX]
    assert rings(deps, escalation_id) == [(1, "mia", "not_placed"), (2, "max", None)]


# -- the whole way: the customer holds while the duty manager is rung ---------------------------


def test_the_customer_escalates_by_phone_holds_and_hears_the_duty_manager_who_pressed_1(
    phone, deps, catalog, clock, team, worker, mock_twilio, rung_phone, de
) -> None:
    with transaction(deps.session_factory) as session:
        sr = submit_request(session, catalog=catalog, now=clock.now() - timedelta(hours=2))
    customer = phone(GERMAN_LINE, GERMAN_MOBILE)
    customer.dial()
    customer.press("3")
    customer.press(f"{sr}#")
    customer.press("1")  # the SR read back is right
    customer.press("1")  # production down
    customer.press("1")  # the business impact is as recorded
    customer.press("2")  # the urgency has not changed
    assert customer.press("1") == [  # the caller ID as the callback number: the last key
        de.text("escalation_hold_start", sr_number=spoken_digits(sr))
    ]
    worker.run_once()  # the first duty manager's phone rings
    call = ring_call(mock_twilio, MIA)
    manager = rung_phone(call)
    assert manager.answer(call.url, answered_by="human")[0] == de.text(
        "manager_whisper_intro", sr_number=spoken_digits(sr)
    )
    assert manager.press("1") == [de.text("manager_accepted")]

    assert customer.holding is not None
    clock.advance(seconds=customer.holding.seconds)
    assert customer.hold() == [
        de.text("escalation_hold_accepted", name="Mia Weber", promise="15 Minuten"),
        de.text("goodbye"),
    ]
    worker.run_once()  # and the customer gets who has it in writing too
    assert any(
        "von Mia Weber angenommen" in m.body for m in deps.messenger.sent if m.to == GERMAN_MOBILE
    )
