"""Whole escalation calls through the signed call walker: menu key 3 (or a US government line)
-> SR read back -> reason -> pre-checks -> an escalation with the duty manager's call back
queued (and the caller on hold: ``test_escalation_hold``), or a severity raise; an SR never
found leaves a message instead."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from callbacks.models import Callback
from db.transaction import transaction
from db.work import WorkItem
from escalations.records import Escalation, EscalationEvent, SeverityRaise
from intake.models import Call, Message, Role
from ivr.prompts import spoken_digits
from tests.conftest import WEDNESDAY_MORNING
from tests.support.callback_rows import staff
from tests.support.calls import GERMAN_LINE, GERMAN_MOBILE, US_LINE, read_one, read_rows
from tests.support.intake_rows import US_MOBILE, submit_request
from tests.support.rosters import cover_every_region

US_GOVERNMENT_LINE = "+18778692730"
US_CALLER = "+12125550123"


@pytest.fixture
def german_sr(deps, catalog, clock):
    """An SR of the German region, taken earlier (its own callback is queued)."""
    with transaction(deps.session_factory) as session:
        return submit_request(session, catalog=catalog, now=clock.now() - timedelta(hours=2))


@pytest.fixture
def us_sr(deps, catalog, clock):
    with transaction(deps.session_factory) as session:
        return submit_request(
            session,
            catalog=catalog,
            now=clock.now() - timedelta(hours=2),
            region="us",
            callback_number=US_MOBILE,
        )


@pytest.fixture(autouse=True)
def duty_rosters(deps, catalog, clock):
    """Every region has a duty manager on duty: an escalation is rung, not flagged at once."""
    cover_every_region(deps.session_factory, catalog, now=clock.now())


@pytest.fixture
def managers(deps, clock):
    """Each region's escalation managers, with e-mail addresses."""
    with transaction(deps.session_factory) as session:
        mia, _ = staff(session, "mia", now=clock.now(), role=Role.MANAGER, email="mia@example.com")
        sam, _ = staff(
            session, "sam", now=clock.now(), role=Role.MANAGER, region="us", email="sam@example.com"
        )
    return {"de": mia, "us": sam}


def notices(deps) -> list[str]:
    with transaction(deps.session_factory) as session:
        return list(
            session.scalars(select(WorkItem.key).where(WorkItem.kind == "escalations.notice"))
        )


def escalation_callback(deps, sr_number):
    """The callback queued for the escalation's message."""
    [message] = [m for m in read_rows(deps, Message) if m.kind == "escalation"]
    assert message.sr_number == sr_number
    [callback] = [c for c in read_rows(deps, Callback) if c.message_id == message.id]
    return message, callback


def no_outside_calls(messenger, mailer, deps):
    """The webhooks only write rows: managers are e-mailed by the worker, later."""
    assert messenger.sent == []
    assert mailer.sent == []
    assert deps.dialer.placed == []


def escalate_up_to_the_checks(walker, sr_number, prompts, *, reason="1"):
    spoken = spoken_digits(sr_number)
    assert walker.press(f"{sr_number}#") == [prompts.text("escalation_sr_check", sr_number=spoken)]
    assert walker.press("1") == [prompts.text("escalation_reason")]
    assert walker.press(reason) == [prompts.text("escalation_impact_check")]


def test_a_german_caller_escalates_an_sr_and_a_duty_manager_call_back_is_queued_for_15_minutes(
    phone, deps, de, german_sr, managers, messenger, mailer
):
    walker = phone(GERMAN_LINE, GERMAN_MOBILE)
    assert walker.dial() == [de.text("welcome"), de.text("menu")]
    assert walker.press("3") == [de.text("escalation_ask_sr")]
    escalate_up_to_the_checks(walker, german_sr, de)
    assert walker.press("1") == [de.text("escalation_urgency_check")]
    assert walker.press("1") == [de.text("callback_offer", number=spoken_digits("015112345678"))]
    # The call back is queued, and the caller holds while the duty managers are rung (the
    # hold itself: test_escalation_hold).
    spoken = spoken_digits(german_sr)
    assert walker.press("1") == [de.text("escalation_hold_start", sr_number=spoken)]
    assert walker.holding is not None

    escalation = read_one(deps, Escalation)
    assert (escalation.sr_number, escalation.region, escalation.reason) == (
        german_sr,
        "de",
        "production_down",
    )
    assert (escalation.raised_by_kind, escalation.raised_by) == (
        "customer",
        "customer " + GERMAN_MOBILE,
    )
    assert (escalation.call_sid, escalation.contact_number) == (walker.call_sid, GERMAN_MOBILE)
    assert escalation.is_us_government is False
    raised, *ringing = sorted(read_rows(deps, EscalationEvent), key=lambda e: e.id)
    assert raised.action == "raised"
    assert raised.detail["checks"] == {"impact_as_recorded": True, "urgency_changed": True}
    assert [e.action for e in ringing] == ["ringing_started", "ring"]

    message, callback = escalation_callback(deps, german_sr)
    assert (message.sr_reference, message.callback_number) == (german_sr, GERMAN_MOBILE)
    assert (callback.callback_number, callback.status) == (GERMAN_MOBILE, "queued")
    # The duty manager's promise (15 minutes), not the product line's 30.
    assert callback.due_at == WEDNESDAY_MORNING + timedelta(minutes=15)
    assert notices(deps) == [f"escalations.notice:{escalation.id}:raised:first:{managers['de'].id}"]
    call = read_one(deps, Call)
    assert (call.outcome, call.sr_number) == ("escalation", german_sr)
    no_outside_calls(messenger, mailer, deps)


def test_an_english_caller_escalates_on_the_us_line_with_a_typed_callback_number(
    phone, deps, en, us_sr, managers
):
    walker = phone(US_LINE, US_CALLER)
    assert walker.dial() == [en.text("welcome"), en.text("menu")]
    assert walker.press("3") == [en.text("escalation_ask_sr")]
    escalate_up_to_the_checks(walker, us_sr, en, reason="3")
    walker.press("1")
    assert walker.press("2") == [en.text("callback_offer", number=spoken_digits("2125550123"))]
    assert walker.press("2025550143#") == [
        en.text("callback_confirmed", number=spoken_digits("2025550143")),
        en.text("escalation_hold_start", sr_number=spoken_digits(us_sr)),
    ]
    escalation = read_one(deps, Escalation)
    assert (escalation.region, escalation.reason, escalation.contact_number) == (
        "us",
        "not_satisfied",
        "+12025550143",
    )
    assert escalation.is_us_government is False
    _, callback = escalation_callback(deps, us_sr)
    assert (callback.callback_number, callback.region, callback.language) == (
        "+12025550143",
        "us",
        "en-US",
    )
    assert callback.due_at == WEDNESDAY_MORNING + timedelta(minutes=15)
    assert notices(deps) == [f"escalations.notice:{escalation.id}:raised:first:{managers['us'].id}"]
    for body in walker.responses:
        if "<Say" in body:
            assert 'language="en-US"' in body


def test_a_caller_whose_business_impact_changed_raises_the_severity_without_escalating(
    phone, deps, de, german_sr, managers
):
    walker = phone()
    walker.dial()
    walker.press("3")
    escalate_up_to_the_checks(walker, german_sr, de, reason="2")
    assert walker.press("2") == [de.text("escalation_urgency_check")]
    assert walker.press("1") == [de.text("escalation_severity_offer")]
    assert walker.press("1") == [
        de.text("escalation_severity_raised", sr_number=spoken_digits(german_sr)),
        de.text("goodbye"),
    ]
    assert walker.ended
    raised = read_one(deps, SeverityRaise)
    assert (raised.sr_number, raised.region, raised.call_sid) == (
        german_sr,
        "de",
        walker.call_sid,
    )
    assert raised.requested_by == "customer " + GERMAN_MOBILE
    assert "urgency changed: yes" in raised.reason
    # A severity raise is not an escalation: nobody is told, nothing more is queued.
    assert read_rows(deps, Escalation) == []
    assert notices(deps) == []
    assert [m.kind for m in read_rows(deps, Message)] == ["new"]
    assert len(read_rows(deps, Callback)) == 1  # the SR's own, from before
    walker.hang_up()
    assert len(read_rows(deps, Callback)) == 1
    assert read_one(deps, Call).outcome == "severity_raise"


def test_a_caller_offered_the_severity_raise_may_escalate_anyway(
    phone, deps, de, german_sr, managers
):
    walker = phone()
    walker.dial()
    walker.press("3")
    escalate_up_to_the_checks(walker, german_sr, de, reason="2")
    walker.press("2")
    walker.press("2")
    assert walker.press("2")[0] == de.text("callback_offer", number=spoken_digits("015112345678"))
    walker.press("1")
    escalation = read_one(deps, Escalation)
    assert escalation.reason == "business_impact"
    assert read_rows(deps, SeverityRaise) == []


def test_an_sr_not_found_three_times_leaves_a_message_instead(phone, deps, de, german_sr):
    walker = phone()
    walker.dial()
    walker.press("3")
    unknown = "10000024"  # a plausible SR number nobody has
    assert walker.press(f"{unknown}#") == [de.text("sr_not_found"), de.text("escalation_ask_sr")]
    assert walker.press("4711#") == [de.text("sr_invalid"), de.text("escalation_ask_sr")]
    assert walker.press(f"{unknown}#") == [
        de.text("escalation_sr_gave_up"),
        de.text("ask_name"),
    ]
    walker.say("Erika Mustermann")
    walker.say("Muster Maschinenbau GmbH")
    walker.press("1")
    # The SR is unquoted: the caller is asked for a reference like any new request.
    assert walker.heard[-1] == de.text("ask_sr_reference")
    walker.press(f"{german_sr}#")
    walker.press("2")
    walker.say("Bitte eskalieren, Produktion steht")
    assert read_rows(deps, Escalation) == []
    message = read_rows(deps, Message)[-1]
    assert (message.kind, message.sr_reference, message.sr_number) == ("new", german_sr, german_sr)


def test_a_call_to_the_us_government_line_escalates_without_the_menu_and_is_marked(
    phone, deps, en, us_sr, managers
):
    walker = phone(US_GOVERNMENT_LINE, US_CALLER)
    assert walker.dial() == [en.text("welcome"), en.text("escalation_ask_sr")]
    escalate_up_to_the_checks(walker, us_sr, en, reason="1")
    walker.press("1")
    walker.press("2")
    walker.press("1")
    escalation = read_one(deps, Escalation)
    assert escalation.is_us_government is True
    assert (escalation.region, escalation.contact_number) == ("us", US_CALLER)
    raised = min(read_rows(deps, EscalationEvent), key=lambda e: e.id)
    assert raised.detail["us_government"] is True
    call = read_one(deps, Call)
    assert (call.region, call.language, call.to_number) == ("us", "en-US", US_GOVERNMENT_LINE)


def test_the_us_government_line_is_not_offered_as_a_callback_number(phone, deps, en, us_sr):
    walker = phone(US_GOVERNMENT_LINE, US_CALLER)
    walker.dial()
    escalate_up_to_the_checks(walker, us_sr, en)
    walker.press("1")
    walker.press("2")
    assert walker.press("18778692730#") == [
        en.text("callback_refused_own_number"),
        en.text("callback_offer", number=spoken_digits("2125550123")),
    ]


def test_a_caller_who_hangs_up_at_the_callback_number_still_escalates_on_the_caller_id(
    phone, deps, de, german_sr, managers
):
    walker = phone()
    walker.dial()
    walker.press("3")
    escalate_up_to_the_checks(walker, german_sr, de)
    walker.press("1")
    walker.press("2")
    assert read_rows(deps, Escalation) == []  # not before the call is settled
    walker.hang_up()
    escalation = read_one(deps, Escalation)
    assert escalation.contact_number == GERMAN_MOBILE
    _, callback = escalation_callback(deps, german_sr)
    assert callback.due_at == WEDNESDAY_MORNING + timedelta(minutes=15)
    assert len(notices(deps)) == 1


def test_an_sr_already_escalated_keeps_its_one_escalation_and_the_call_is_logged_on_it(
    phone, deps, de, german_sr, managers
):
    for caller in (GERMAN_MOBILE, "+4930123456"):
        walker = phone(GERMAN_LINE, caller)
        walker.dial()
        walker.press("3")
        escalate_up_to_the_checks(walker, german_sr, de)
        walker.press("1")
        walker.press("2")
        walker.press("1")
    escalation = read_one(deps, Escalation)
    events = sorted(read_rows(deps, EscalationEvent), key=lambda e: e.id)
    # Rung once, for the first call.
    assert [e.action for e in events] == ["raised", "ringing_started", "ring", "raised_again"]
    assert events[-1].detail["call_sid"] == walker.call_sid
    assert events[-1].detail["contact_number"] == "+4930123456"
    # Each caller is promised the duty manager's call back: two callbacks, one notice.
    assert [c.callback_number for c in read_rows(deps, Callback)][1:] == [
        GERMAN_MOBILE,
        "+4930123456",
    ]
    assert len(notices(deps)) == 1
    assert escalation.call_sid != walker.call_sid
