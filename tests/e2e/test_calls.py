"""Whole calls through the signed call walker, as Twilio would make them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callbacks.models import Callback
from db.transaction import transaction
from intake.models import Call, CallTurn, Confirmation, Message, ServiceRequest
from intake.sweep import calls_to_settle, settle_quiet_call
from ivr.prompts import spoken_digits
from tests.conftest import WEDNESDAY_MORNING
from tests.support.calls import (
    GERMAN_LINE,
    GERMAN_MOBILE,
    US_LINE,
    read_one,
    read_rows,
    wait_in_queue,
)

RECORDING = "[recording started]"


def no_outside_calls(messenger, mailer, deps):
    """Webhooks only write rows: no SMS, e-mail or outbound call leaves during a call."""
    assert messenger.sent == []
    assert mailer.sent == []
    assert deps.dialer.placed == []


def identify(walker, customer_number):
    walker.dial()
    walker.press("1")
    return walker.press(f"{customer_number}#")


def reach_message(walker, customer_number):
    """Dial, identify, wait out the queue; returns what was heard when the queue let go."""
    identify(walker, customer_number)
    return wait_in_queue(walker)


# -- the main path -----------------------------------------------------------------------------


def test_german_caller_waits_for_an_agent_then_leaves_a_message_and_hears_the_sr_number(
    phone, demo_customers, deps, de, messenger, mailer
):
    walker = phone(GERMAN_LINE, GERMAN_MOBILE)
    assert walker.dial() == [de.text("welcome"), de.text("menu")]
    assert walker.press("1") == [de.text("ask_customer_number")]
    heard = walker.press("4711002#")
    assert heard[:4] == [
        de.text("connecting_agent"),
        "[waiting in queue support-de]",
        de.text("queue_position_next"),
        de.text("hold"),
    ]
    heard = wait_in_queue(walker)
    assert heard[-2:] == [de.text("agents_busy", promise="30 Minuten"), de.text("ask_name")]
    [leave] = [form for _, form in walker.requests if "QueueResult" in form]
    assert leave["QueueResult"] == "leave"
    assert int(leave["QueueTime"]) >= 120

    # Company is known from the customer record: the caller is not asked for it.
    assert walker.say("Erika Mustermann") == [
        de.text("callback_offer", number=spoken_digits("015112345678"))
    ]
    assert walker.press("1") == [de.text("ask_sr_reference")]
    assert walker.press("#") == [de.text("consent_ask")]
    assert walker.press("2") == [de.text("consent_declined"), de.text("ask_description")]
    heard = walker.say("Der NSX-Manager startet nicht mehr.")

    sr = read_one(deps, ServiceRequest)
    spoken = spoken_digits(sr.number)
    assert heard == [
        de.text("sr_number", sr_number=spoken),
        de.text("sr_number_again", sr_number=spoken),
        de.text("readback_menu"),
    ]
    assert walker.press("1") == heard
    assert walker.press("2") == [de.text("goodbye")]
    assert walker.ended

    assert (sr.region, sr.language, sr.customer_number, sr.is_identified) == (
        "de",
        "de-DE",
        "4711002",
        True,
    )
    assert (sr.company, sr.contact_name, sr.callback_number) == (
        "Beispiel Logistik AG",
        "Erika Mustermann",
        GERMAN_MOBILE,
    )
    assert (sr.product, sr.product_line, sr.sr_reference, sr.answer_channel) == (
        "NSX",
        "datacenter",
        None,
        "phone",
    )
    assert sr.description == "Der NSX-Manager startet nicht mehr."
    message = read_one(deps, Message)
    assert message.is_complete
    assert message.recording_consent is False
    assert message.consent_prompt_version == de.version
    assert message.callback_number_source == "caller_id"
    callback = read_one(deps, Callback)
    assert (callback.sr_number, callback.callback_number, callback.status) == (
        sr.number,
        GERMAN_MOBILE,
        "queued",
    )
    assert callback.due_at == WEDNESDAY_MORNING + timedelta(minutes=30)
    assert read_one(deps, Call).sr_number == sr.number
    no_outside_calls(messenger, mailer, deps)


def test_every_question_in_german_is_spoken_and_recognised_in_german(phone, demo_customers):
    walker = phone()
    reach_message(walker, "4711002")
    walker.say("Erika Mustermann")
    walker.press("1")
    walker.press("#")
    walker.press("2")
    walker.say("Problem")
    for body in walker.responses:
        if "<Say" in body:
            assert 'language="de-DE"' in body
            assert 'voice="Polly.Vicki-Neural"' in body
        if 'input="speech"' in body:
            assert 'language="de-DE"' in body
        assert "<Record" not in body


def test_english_caller_on_the_us_number_is_answered_in_english(
    phone, demo_customers, deps, en, clock
):
    walker = phone(US_LINE, "+12125550123")
    assert walker.dial() == [en.text("welcome"), en.text("menu")]
    walker.press("1")
    heard = walker.press("5550001#")
    assert heard[0] == en.text("connecting_agent")
    assert wait_in_queue(walker)[-2:] == [
        en.text("agents_busy", promise="30 minutes"),
        en.text("ask_name"),
    ]
    walker.say("John Doe")
    walker.press("1")
    walker.press("#")
    walker.press("2")
    # Acme has an e-mail address on file, so the answer channel is offered.
    assert walker.say("Our cluster is down") == [en.text("ask_answer_channel")]
    heard = walker.press("2")
    sr = read_one(deps, ServiceRequest)
    assert heard[0] == en.text("sr_number", sr_number=spoken_digits(sr.number))
    assert (sr.region, sr.language, sr.customer_number, sr.company) == (
        "us",
        "en-US",
        "5550001",
        "Acme Widgets Inc.",
    )
    assert (sr.callback_number, sr.answer_channel, sr.email) == (
        "+12125550123",
        "email",
        "ops@acme-widgets.example",
    )
    for body in walker.responses:
        if 'input="speech"' in body:
            assert 'language="en-US"' in body


def test_a_customer_with_two_products_chooses_one_by_keypad(phone, demo_customers, deps, de):
    walker = phone()
    heard = identify(walker, "4711001")
    assert heard == [
        de.text("product_intro"),
        de.text("product_option", product="vSphere", key="1"),
        de.text("product_option", product="Workstation", key="2"),
    ]
    assert walker.press("2")[0] == de.text("connecting_agent")
    call = read_one(deps, Call)
    assert (call.product, call.product_line, call.is_identified) == ("Workstation", "desktop", True)
    wait_in_queue(walker)
    walker.say("Max Muster")
    message = read_one(deps, Message)
    assert (message.product, message.product_line) == ("Workstation", "desktop")


def test_an_unknown_customer_number_three_times_continues_unidentified(
    phone, demo_customers, deps, de
):
    walker = phone()
    walker.dial()
    walker.press("1")
    assert walker.press("9999#") == [
        de.text("customer_unknown"),
        de.text("ask_customer_number"),
    ]
    walker.press("8888#")
    heard = walker.press("7777#")
    assert heard[:3] == [
        de.text("continue_unidentified"),
        de.text("connecting_agent"),
        "[waiting in queue support-de]",
    ]
    assert not walker.ended
    wait_in_queue(walker)
    walker.say("Anna Anonym")
    # An unidentified caller is asked for the company.
    assert walker.listening is not None
    assert walker.heard[-1] == de.text("ask_company")
    walker.say("Unbekannt GmbH")
    walker.press("1")
    walker.press("#")
    walker.press("2")
    walker.say("Lizenzfrage")
    message = read_one(deps, Message)
    assert (message.is_identified, message.customer_number, message.company) == (
        False,
        None,
        "Unbekannt GmbH",
    )
    sr = read_one(deps, ServiceRequest)
    assert (sr.is_identified, sr.product_line) == (False, "datacenter")


@pytest.mark.parametrize(
    ("now", "due_at"),
    [
        # Saturday 11:00 Berlin: the 24 business hours run Monday and Tuesday 06:00-18:00.
        (datetime(2026, 11, 28, 10, 0, tzinfo=UTC), datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),
        # Wednesday 19:00 Berlin: Thursday and Friday.
        (datetime(2026, 11, 25, 18, 0, tzinfo=UTC), datetime(2026, 11, 27, 17, 0, tzinfo=UTC)),
    ],
)
def test_a_desktop_caller_out_of_hours_goes_straight_to_the_message(
    phone, demo_customers, deps, de, clock, now, due_at
):
    clock.set(now)
    walker = phone()
    heard = identify(walker, "4711003")
    assert heard == [
        # The hours and the promise are spoken from the configuration.
        de.text(
            "closed",
            product="Workstation and Fusion",
            hours="montags bis freitags von 6 Uhr bis 18 Uhr",
            promise="24 Stunden",
        ),
        de.text("ask_name"),
    ]
    walker.say("Dr. Schmidt")
    walker.press("1")
    walker.press("#")
    walker.press("2")
    walker.say("Fusion stürzt ab")
    walker.press("1")  # answer by phone
    callback = read_one(deps, Callback)
    assert callback.product_line == "desktop"
    assert callback.due_at == due_at
    assert "[waiting in queue support-de]" not in walker.heard


def test_a_caller_on_hold_can_press_1_for_a_callback_and_keeps_their_place(
    phone, demo_customers, deps, de, clock
):
    walker = phone()
    identify(walker, "4711002")
    clock.advance(minutes=1)
    heard = walker.press("1")
    assert heard == [de.text("callback_keeps_place"), de.text("ask_name")]
    clock.advance(minutes=1)
    walker.say("Erika Mustermann")
    walker.press("1")
    walker.press("#")
    walker.press("2")
    walker.say("Bitte Rückruf")
    callback = read_one(deps, Callback)
    assert callback.requested_at == WEDNESDAY_MORNING
    assert callback.created_at == WEDNESDAY_MORNING + timedelta(minutes=2)
    # The promise counts from the key press (10:01), not from when the SR was made (10:02).
    assert callback.due_at == WEDNESDAY_MORNING + timedelta(minutes=31)


# -- hang-ups ----------------------------------------------------------------------------------


def test_a_caller_hanging_up_mid_message_still_gets_an_sr_and_a_callback(
    phone, demo_customers, deps
):
    walker = phone()
    reach_message(walker, "4711002")
    walker.say("Erika Mustermann")
    walker.press("015199998888#")
    assert read_rows(deps, ServiceRequest) == []
    walker.hang_up()
    sr = read_one(deps, ServiceRequest)
    assert (sr.contact_name, sr.callback_number, sr.description) == (
        "Erika Mustermann",
        "+4915199998888",
        None,
    )
    message = read_one(deps, Message)
    assert not message.is_complete
    callback = read_one(deps, Callback)
    assert callback.callback_number == "+4915199998888"
    call = read_one(deps, Call)
    assert (call.status, call.is_settled, call.sr_number) == ("completed", True, sr.number)


def test_a_hang_up_after_only_the_name_is_called_back_on_the_caller_id(phone, demo_customers, deps):
    walker = phone()
    reach_message(walker, "4711002")
    walker.say("Erika Mustermann")
    walker.hang_up()
    assert read_one(deps, Callback).callback_number == GERMAN_MOBILE
    assert read_one(deps, Message).callback_number_source == "caller_id"


def test_a_hang_up_with_no_status_callback_is_settled_by_the_sweep(
    phone, demo_customers, deps, clock, catalog
):
    walker = phone()
    reach_message(walker, "4711002")
    walker.say("Erika Mustermann")
    # The phone goes dead and Twilio's status callback never arrives.

    def sweep():
        with transaction(deps.session_factory) as session:
            due = calls_to_settle(session, now=clock.now())
            settled = [
                settle_quiet_call(
                    session,
                    sid,
                    catalog=catalog,
                    scheduler=deps.scheduler,
                    escalations=deps.escalations,
                    now=clock.now(),
                )
                for sid in due
            ]
        return due, settled

    clock.advance(seconds=89)
    assert sweep() == ([], [])
    clock.advance(seconds=2)
    due, [sr_number] = sweep()
    assert due == [walker.call_sid]
    sr = read_one(deps, ServiceRequest)
    assert sr.number == sr_number
    assert sr.contact_name == "Erika Mustermann"
    callback = read_one(deps, Callback)
    # Due 30 minutes after the caller began the message, not after the sweep found the call.
    assert callback.due_at == clock.now() - timedelta(seconds=91) + timedelta(minutes=30)
    assert sweep() == ([], [])


def test_a_slow_caller_settled_by_the_sweep_still_completes_the_same_sr(
    phone, demo_customers, deps, clock, catalog
):
    walker = phone()
    reach_message(walker, "4711002")
    walker.say("Erika Mustermann")
    walker.press("1")
    walker.press("#")
    walker.press("2")
    clock.advance(seconds=95)  # a long pause before the description arrives
    with transaction(deps.session_factory) as session:
        [call_sid] = calls_to_settle(session, now=clock.now())
        early = settle_quiet_call(
            session,
            call_sid,
            catalog=catalog,
            scheduler=deps.scheduler,
            escalations=deps.escalations,
            now=clock.now(),
        )
    walker.say("Der Cluster ist nach dem Update nicht erreichbar")
    sr = read_one(deps, ServiceRequest)
    assert sr.number == early
    assert sr.description == "Der Cluster ist nach dem Update nicht erreichbar"
    assert len(read_rows(deps, Callback)) == 1
    assert any(early in line.replace(", ", "") for line in walker.heard)


def _settle_by_sweep(deps, clock, catalog, *, after_seconds=95):
    clock.advance(seconds=after_seconds)
    with transaction(deps.session_factory) as session:
        [call_sid] = calls_to_settle(session, now=clock.now())
        return settle_quiet_call(
            session,
            call_sid,
            catalog=catalog,
            scheduler=deps.scheduler,
            escalations=deps.escalations,
            now=clock.now(),
        )


def test_a_number_typed_after_an_early_settlement_becomes_the_callback_number(
    phone, demo_customers, deps, clock, catalog
):
    walker = phone()
    reach_message(walker, "4711002")
    walker.say("Erika Mustermann")
    early = _settle_by_sweep(deps, clock, catalog)
    assert read_one(deps, Callback).callback_number == GERMAN_MOBILE  # the caller ID
    walker.press("030 1234567#".replace(" ", ""))
    walker.press("#")
    walker.press("2")
    walker.say("Bitte unter der Festnetznummer zurückrufen")
    callback = read_one(deps, Callback)
    assert callback.callback_number == "+49301234567"
    assert callback.sr_number == early
    sr = read_one(deps, ServiceRequest)
    assert (sr.callback_number, sr.description) == (
        "+49301234567",
        "Bitte unter der Festnetznummer zurückrufen",
    )


def test_a_description_given_after_an_early_settlement_reaches_the_sr_when_the_caller_hangs_up(
    phone, demo_customers, deps, clock, catalog
):
    walker = phone()
    reach_message(walker, "4711003")  # has an e-mail address: the answer channel is asked last
    walker.say("Erika Mustermann")
    walker.press("1")
    walker.press("#")
    walker.press("2")
    _settle_by_sweep(deps, clock, catalog)
    walker.say("Speicher voll")
    assert walker.listening is not None  # asked how the answer should come
    walker.hang_up()  # so only the status callback follows
    sr = read_one(deps, ServiceRequest)
    assert sr.description == "Speicher voll"
    assert len(read_rows(deps, ServiceRequest)) == 1


def test_a_caller_waiting_for_an_agent_who_hangs_up_is_not_called_back(phone, demo_customers, deps):
    walker = phone()
    identify(walker, "4711002")
    # Twilio may post the status callback before or after the queue's result.
    walker.hang_up()
    walker.post("http://hotline.test/ivr/voice?step=agent&seq=3", {"QueueResult": "hangup"})
    assert read_rows(deps, ServiceRequest) == []
    assert read_rows(deps, Callback) == []
    assert read_one(deps, Call).is_settled


def test_an_unidentified_caller_hanging_up_at_the_menu_leaves_nothing(phone, deps):
    walker = phone()
    walker.dial()
    walker.hang_up()
    assert read_rows(deps, ServiceRequest) == []
    call = read_one(deps, Call)
    assert (call.is_settled, call.outcome) == (True, "abandoned")


# -- duplicates and disorder -------------------------------------------------------------------


def test_a_duplicated_webhook_gets_the_same_answer_and_changes_nothing(phone, demo_customers, deps):
    walker = phone()
    reach_message(walker, "4711002")
    walker.say("Erika Mustermann")
    name_url, name_form = walker.requests[-1]
    first_answer = walker.responses[-1]
    walker.press("1")
    walker.press("#")
    walker.press("2")
    walker.say("Original")
    description_url, description_form = walker.requests[-1]
    readback = walker.responses[-1]

    assert walker.post(name_url, {**name_form, "SpeechResult": "Someone Else"}) == first_answer
    assert walker.post(description_url, description_form) == readback
    assert walker.post(description_url, description_form) == readback
    message = read_one(deps, Message)
    assert (message.contact_name, message.description) == ("Erika Mustermann", "Original")
    assert len(read_rows(deps, ServiceRequest)) == 1
    assert len(read_rows(deps, Callback)) == 1


def test_a_duplicated_first_webhook_does_not_start_a_second_call(phone, deps):
    walker = phone()
    walker.dial()
    url, form = walker.requests[0]
    assert walker.post(url, form) == walker.responses[0]
    # The greeting stores nothing: the call is stored with its first answer.
    assert read_rows(deps, Call) == []
    walker.press("1")
    assert walker.post(url, form) == walker.responses[0]
    assert len(read_rows(deps, Call)) == 1
    assert sorted(turn.seq for turn in read_rows(deps, CallTurn)) == [0, 1]


def test_a_stale_webhook_replays_its_old_answer_without_moving_the_call(
    phone, demo_customers, deps, de
):
    walker = phone()
    walker.dial()
    walker.press("1")
    menu_url, menu_form = walker.requests[1]
    menu_answer = walker.responses[1]
    walker.press("4711002#")
    turn_before = read_one(deps, Call).turn
    # A late copy of the menu answer, now with a different key.
    assert walker.post(menu_url, {**menu_form, "Digits": "2"}) == menu_answer
    # A request from the future (a seq never handed out) changes nothing either.
    future = menu_url.replace("seq=1", "seq=99")
    walker.post(future, menu_form)
    call = read_one(deps, Call)
    assert call.turn == turn_before
    assert call.customer_number == "4711002"


def test_an_unknown_call_mid_flow_gets_the_safe_fallback(phone, deps, de):
    walker = phone()
    body = walker.post("http://hotline.test/ivr/voice?step=name&seq=4", {"SpeechResult": "x"})
    assert de.text("error_fallback") in body
    assert "/ivr/fallback/number" in body
    assert read_rows(deps, Call) == []


# -- silence and caller IDs --------------------------------------------------------------------


def test_a_silent_caller_is_offered_a_callback_and_ended_politely_within_three_minutes(
    phone, deps, de
):
    walker = phone()
    walker.dial()
    while not walker.ended:
        heard = walker.silence()
        if de.text("silence_offer") in heard:
            offered_at = walker.seconds
            assert heard[-1] == de.text("callback_offer", number=spoken_digits("015112345678"))
    assert walker.seconds <= 180
    assert offered_at < walker.seconds
    sr = read_one(deps, ServiceRequest)
    assert heard == [
        de.text("sr_number", sr_number=spoken_digits(sr.number)),
        de.text("silence_goodbye"),
    ]
    assert sr.callback_number == GERMAN_MOBILE
    assert read_one(deps, Callback).callback_number == GERMAN_MOBILE
    assert not read_one(deps, Message).is_complete


def test_a_caller_who_goes_silent_after_typing_a_number_is_called_back_on_that_number(
    phone, demo_customers, deps, de
):
    walker = phone()
    reach_message(walker, "4711002")
    walker.say("Erika Mustermann")
    walker.press("030123456#")
    walker.press("#")
    while not walker.ended:
        heard = walker.silence()
    assert heard[-1] == de.text("silence_goodbye")
    assert de.text("callback_offer", number=spoken_digits("015112345678")) not in walker.heard[-8:]
    assert read_one(deps, Callback).callback_number == "+4930123456"
    assert read_one(deps, ServiceRequest).callback_number == "+4930123456"


@pytest.mark.parametrize("caller_id", ["anonymous", "", "+266696687"])
def test_a_caller_without_caller_id_is_asked_to_type_a_number(
    phone, demo_customers, deps, de, caller_id
):
    walker = phone(GERMAN_LINE, caller_id)
    reach_message(walker, "4711002")
    assert walker.say("Erika Mustermann") == [de.text("callback_ask")]
    # "1" alone is no number when there is no caller ID to accept.
    assert walker.press("1#")[0] == de.text("callback_invalid")
    assert walker.press("015112345678#") == [
        de.text("callback_confirmed", number=spoken_digits("015112345678")),
        de.text("ask_sr_reference"),
    ]
    message = read_one(deps, Message)
    assert (message.callback_number, message.callback_number_source) == (GERMAN_MOBILE, "typed")


def test_an_invalid_callback_number_is_asked_again_then_accepted(phone, demo_customers, deps, de):
    walker = phone()
    reach_message(walker, "4711002")
    walker.say("Erika Mustermann")
    offer = de.text("callback_offer", number=spoken_digits("015112345678"))
    assert walker.press("12345#") == [
        de.text("callback_invalid"),
        offer,
    ]
    assert read_one(deps, Message).callback_number is None
    assert walker.press("0049301234567#")[0] == de.text(
        "callback_confirmed", number=spoken_digits("0301234567")
    )
    assert read_one(deps, Message).callback_number == "+49301234567"


def test_three_invalid_callback_numbers_fall_back_to_the_caller_id(phone, demo_customers, deps, de):
    walker = phone()
    reach_message(walker, "4711002")
    walker.say("Erika Mustermann")
    walker.press("1#2")
    walker.press("12345#")
    walker.press("99#")
    assert walker.heard[-1] == de.text("ask_sr_reference")
    message = read_one(deps, Message)
    assert (message.callback_number, message.callback_number_source) == (GERMAN_MOBILE, "caller_id")


# -- recording consent -------------------------------------------------------------------------


def test_without_consent_nothing_is_recorded_and_a_recording_is_ignored(
    phone, demo_customers, deps
):
    walker = phone()
    reach_message(walker, "4711002")
    walker.say("Erika Mustermann")
    walker.press("1")
    walker.press("#")
    walker.press("2")
    walker.say("Beschreibung")
    walker.press("2")
    assert not any("<Start" in body or "<Record" in body for body in walker.responses)
    # A recording callback arriving anyway (forged or misrouted) is not linked.
    walker.post(
        "http://hotline.test/ivr/status/recording",
        {
            "RecordingSid": "RE" + "1" * 32,
            "RecordingUrl": "http://x/rec",
            "RecordingStatus": "completed",
        },
    )
    message = read_one(deps, Message)
    assert (message.recording_consent, message.recording_sid, message.recording_url) == (
        False,
        None,
        None,
    )


def test_recording_starts_only_after_the_callers_yes(phone, demo_customers, deps, de):
    walker = phone()
    reach_message(walker, "4711002")
    walker.say("Erika Mustermann")
    walker.press("1")
    walker.press("#")
    consent_index = len(walker.responses)
    heard = walker.press("1")
    assert heard == [RECORDING, de.text("consent_given"), de.text("ask_description")]
    assert not any("<Start" in body for body in walker.responses[:consent_index])
    assert "<Start><Recording" in walker.responses[consent_index]
    walker.say("Der Fehler tritt seit heute auf.")
    walker.press("2")
    sr = read_one(deps, ServiceRequest)
    message = read_one(deps, Message)
    assert message.recording_consent is True
    assert message.consent_prompt_version == de.version
    assert message.recording_url == f"http://hotline.test/recordings/{walker.call_sid}"
    assert sr.description == "Der Fehler tritt seit heute auf."


# -- existing requests -------------------------------------------------------------------------


def leave_first_request(phone, customer="4711002"):
    walker = phone()
    reach_message(walker, customer)
    walker.say("Erika Mustermann")
    walker.press("1")
    walker.press("#")
    walker.press("2")
    walker.say("Erste Meldung")
    walker.press("2")
    return walker


def test_a_caller_leaves_an_update_on_an_existing_request(phone, demo_customers, deps, de):
    leave_first_request(phone)
    sr = read_one(deps, ServiceRequest)
    walker = phone(GERMAN_LINE, "+4930123456")
    walker.dial()
    walker.press("2")
    assert walker.press(f"{sr.number}#") == [
        de.text("sr_found", sr_number=spoken_digits(sr.number)),
        de.text("sr_action"),
    ]
    assert walker.press("1") == [de.text("ask_name")]
    # Quoting an SR does not identify the caller: the company is asked, not taken from the SR.
    assert walker.say("Erika Mustermann") == [de.text("ask_company")]
    walker.say("Beispiel Logistik AG")
    walker.press("1")
    # No SR reference is asked for: it is known.
    assert walker.heard[-1] == de.text("consent_ask")
    walker.press("2")
    heard = walker.say("Neue Logdateien liegen bereit.")
    assert heard[0] == de.text("sr_number", sr_number=spoken_digits(sr.number))
    assert len(read_rows(deps, ServiceRequest)) == 1
    update = read_rows(deps, Message)[1]
    assert (update.kind, update.sr_number, update.description) == (
        "update",
        sr.number,
        "Neue Logdateien liegen bereit.",
    )
    # An update is attached for the engineer; only the first message is owed a callback.
    assert len(read_rows(deps, Callback)) == 1


def test_a_caller_asks_for_a_callback_on_an_existing_request(phone, demo_customers, deps):
    leave_first_request(phone)
    sr = read_one(deps, ServiceRequest)
    walker = phone(GERMAN_LINE, "+4930123456")
    walker.dial()
    walker.press("2")
    walker.press(f"{sr.number}#")
    walker.press("2")
    walker.say("Erika Mustermann")
    walker.say("Beispiel Logistik AG")
    walker.press("1")
    walker.press("2")
    walker.say("Bitte um Rückruf")
    callbacks = read_rows(deps, Callback)
    assert [(c.sr_number, c.callback_number) for c in callbacks] == [
        (sr.number, GERMAN_MOBILE),
        (sr.number, "+4930123456"),
    ]
    second = read_rows(deps, Message)[1]
    assert second.kind == "callback"
    # SR numbers are easy to guess: quoting one attaches the message but identifies nobody,
    # so neither the SR's customer, entitlement nor e-mail address comes with it.
    assert (second.customer_number, second.is_identified) == (None, False)
    assert second.product_line == "datacenter"  # the region's default, not the SR's
    confirmations = [c for c in read_rows(deps, Confirmation) if c.message_id == second.id]
    assert all(c.channel != "email" for c in confirmations)


def test_a_caller_who_hangs_up_after_quoting_a_request_is_called_back_on_it(
    phone, demo_customers, deps
):
    leave_first_request(phone)
    sr = read_one(deps, ServiceRequest)
    walker = phone(GERMAN_LINE, "+4930123456")
    walker.dial()
    walker.press("2")
    walker.press(f"{sr.number}#")
    walker.hang_up()  # before choosing update or callback

    assert [s.number for s in read_rows(deps, ServiceRequest)] == [sr.number]
    message = read_rows(deps, Message)[1]
    assert (message.kind, message.sr_number, message.sr_reference) == (
        "callback",
        sr.number,
        sr.number,
    )
    callbacks = read_rows(deps, Callback)
    assert [(c.sr_number, c.callback_number) for c in callbacks] == [
        (sr.number, GERMAN_MOBILE),
        (sr.number, "+4930123456"),
    ]


def test_an_sr_number_not_found_three_times_becomes_a_new_request(phone, demo_customers, deps, de):
    walker = phone()
    walker.dial()
    walker.press("2")
    assert walker.press("12345678#")[0] == de.text("sr_invalid")
    assert walker.press("10000024#")[0] == de.text("sr_not_found")
    assert walker.press("10000032#") == [
        de.text("sr_lookup_gave_up"),
        de.text("ask_customer_number"),
    ]
    walker.press("4711002#")
    wait_in_queue(walker)
    assert walker.heard[-1] == de.text("ask_name")


# -- the answer channel ------------------------------------------------------------------------


def test_email_is_offered_only_to_customers_with_an_address_and_stored_on_the_sr(
    phone, demo_customers, deps, de
):
    walker = phone()
    identify(walker, "4711001")
    walker.press("1")  # vSphere
    wait_in_queue(walker)
    walker.say("Erika Mustermann")
    walker.press("1")
    walker.press("#")
    walker.press("2")
    assert walker.say("Problem") == [de.text("ask_answer_channel")]
    walker.press("2")
    sr = read_one(deps, ServiceRequest)
    assert (sr.answer_channel, sr.email) == ("email", "it-betrieb@muster-maschinenbau.example")

    second = leave_first_request(phone, customer="4711002")
    assert de.text("ask_answer_channel") not in second.heard
    without_email = read_rows(deps, ServiceRequest)[1]
    assert (without_email.answer_channel, without_email.email) == ("phone", None)


def test_many_callers_talking_to_agents_never_hold_up_the_sweep_of_abandoned_calls(
    phone, demo_customers, deps, clock
):
    talking = [phone(from_=f"+49151000{n:05d}") for n in range(205)]
    for walker in talking:
        identify(walker, "4711002")  # in the agent queue, then (say) talking, with no webhooks
    quiet = phone()
    reach_message(quiet, "4711002")
    quiet.say("Erika Mustermann")  # then silence: the phone went dead
    clock.advance(minutes=10)
    with transaction(deps.session_factory) as session:
        assert calls_to_settle(session, now=clock.now()) == [quiet.call_sid]
