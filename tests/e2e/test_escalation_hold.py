"""The escalating caller on hold, walked with the signed call walker: the duty managers are
rung while the caller holds; a duty manager's accept is heard by name, and nobody accepting
(time up, or the escalation flagged unowned) ends the hold with the call back promise, whose
callback is already queued. ``[escalations] hold_seconds = 0`` keeps the call as it was."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from callbacks.models import Callback
from config.app import create_app
from db.transaction import transaction
from escalations.history import SYSTEM
from escalations.records import Escalation, EscalationEvent
from escalations.services import accept_escalation, flag_unowned
from intake.models import Call, CallTurn, Message, Role
from ivr.call_walker import CallWalker
from ivr.prompts import spoken_digits
from tests.conftest import BASE_URL, WEDNESDAY_MORNING
from tests.support.callback_rows import staff
from tests.support.calls import GERMAN_LINE, GERMAN_MOBILE, US_LINE, read_one, read_rows
from tests.support.intake_rows import US_MOBILE, submit_request
from tests.support.rosters import cover_every_region

HOLD_URL = f"{BASE_URL}/ivr/escalation/hold"
US_CALLER = "+12125550123"


@pytest.fixture
def german_sr(deps, catalog, clock):
    with transaction(deps.session_factory) as session:
        return submit_request(session, catalog=catalog, now=clock.now() - timedelta(hours=2))


@pytest.fixture(autouse=True)
def duty_rosters(deps, catalog, clock):
    """Every region has a duty manager on duty: an escalation is rung, not flagged at once."""
    cover_every_region(deps.session_factory, catalog, now=clock.now())


@pytest.fixture
def managers(deps, clock):
    """The German and the US region's duty managers."""
    with transaction(deps.session_factory) as session:
        mia, _ = staff(session, "mia", now=clock.now(), role=Role.MANAGER, email="mia@example.com")
        sam, _ = staff(
            session, "sam", now=clock.now(), role=Role.MANAGER, region="us", email="sam@example.com"
        )
    return {"de": mia, "us": sam}


def escalate(walker: CallWalker, sr_number: str, prompts) -> list[str]:
    """Menu key 3 through to the callback number (the caller ID, key 1): what is heard then."""
    walker.dial()
    walker.press("3")
    walker.press(f"{sr_number}#")
    walker.press("1")  # the SR read back is right
    walker.press("1")  # production down
    walker.press("1")  # the business impact is as recorded
    assert walker.press("2") == [
        prompts.text("callback_offer", number=spoken_digits("015112345678"))
    ]
    return walker.press("1")


def hold_on(walker: CallWalker, clock) -> list[str]:
    """The caller holds through one round: its pause passes on the injected clock too."""
    assert walker.holding is not None, "the caller is not on hold"
    clock.advance(seconds=walker.holding.seconds)
    return walker.hold()


def the_escalation(deps) -> Escalation:
    return read_one(deps, Escalation)


def escalation_call_back(deps) -> Callback:
    [message] = [m for m in read_rows(deps, Message) if m.kind == "escalation"]
    [callback] = [c for c in read_rows(deps, Callback) if c.message_id == message.id]
    return callback


def test_the_caller_holds_and_hears_the_duty_manager_who_accepts(
    phone, deps, clock, de, german_sr, managers
):
    walker = phone()
    spoken = spoken_digits(german_sr)
    assert escalate(walker, german_sr, de) == [de.text("escalation_hold_start", sr_number=spoken)]
    assert walker.holding is not None
    assert walker.requests[-1][0] != HOLD_URL  # the settling turn began the hold
    assert hold_on(walker, clock) == []  # still ringing: a quiet round
    assert hold_on(walker, clock) == []

    escalation = the_escalation(deps)
    with transaction(deps.session_factory) as session:
        accept_escalation(session, escalation.id, by=managers["de"], now=clock.now())
    assert hold_on(walker, clock) == [
        de.text("escalation_hold_accepted", name="mia", promise="15 Minuten"),
        de.text("goodbye"),
    ]
    assert walker.ended
    assert [url for url, _ in walker.requests].count(HOLD_URL + "?said=0") == 3
    # The call back promised stays queued for the duty manager to call.
    callback = escalation_call_back(deps)
    assert (callback.status, callback.callback_number) == ("queued", GERMAN_MOBILE)
    assert callback.due_at == WEDNESDAY_MORNING + timedelta(minutes=15)
    call = read_one(deps, Call)
    assert (call.outcome, call.is_settled, call.status) == ("escalation", True, "completed")


def test_an_english_caller_hears_the_acceptance_in_english(phone, deps, clock, en, managers):
    with transaction(deps.session_factory) as session:
        us_sr = submit_request(
            session,
            catalog=deps.catalog,
            now=clock.now() - timedelta(hours=2),
            region="us",
            callback_number=US_MOBILE,
        )
    walker = phone(US_LINE, US_CALLER)
    walker.dial()
    walker.press("3")
    walker.press(f"{us_sr}#")
    walker.press("1")
    walker.press("3")
    walker.press("1")
    walker.press("2")
    assert walker.press("1") == [en.text("escalation_hold_start", sr_number=spoken_digits(us_sr))]
    escalation = the_escalation(deps)
    with transaction(deps.session_factory) as session:
        accept_escalation(session, escalation.id, by=managers["us"], now=clock.now())
    assert hold_on(walker, clock) == [
        en.text("escalation_hold_accepted", name="sam", promise="15 minutes"),
        en.text("goodbye"),
    ]
    for body in walker.responses:
        if "<Say" in body:
            assert 'language="en-US"' in body


def test_nobody_accepting_within_the_hold_ends_it_with_the_call_back_promise(
    phone, deps, clock, de, german_sr, managers
):
    walker = phone()
    escalate(walker, german_sr, de)
    heard: list[tuple[float, str]] = []
    while not walker.ended:
        said = hold_on(walker, clock)
        held = (clock.now() - WEDNESDAY_MORNING).total_seconds()
        heard.extend((held, line) for line in said)
    ringing = de.text("escalation_hold_ringing")
    # "Still ringing" about every 30 s, never each round; the promise when the 120 s are up.
    assert heard == [
        (32, ringing),
        (64, ringing),
        (96, ringing),
        (120, de.text("escalation_hold_call_back", promise="15 Minuten")),
        (120, de.text("goodbye")),
    ]
    polls = [url for url, _ in walker.requests if url.startswith(HOLD_URL)]
    assert len(polls) == 15  # one every 8 s
    assert the_escalation(deps).status == "raised"  # the hold only listens
    assert escalation_call_back(deps).due_at == WEDNESDAY_MORNING + timedelta(minutes=15)


def test_an_escalation_flagged_unowned_ends_the_hold_with_the_call_back_promise(
    phone, deps, clock, de, german_sr, managers
):
    walker = phone()
    escalate(walker, german_sr, de)
    hold_on(walker, clock)
    escalation = the_escalation(deps)
    with transaction(deps.session_factory) as session:
        flag_unowned(session, escalation.id, by=SYSTEM, now=clock.now())
    assert hold_on(walker, clock) == [
        de.text("escalation_hold_call_back", promise="15 Minuten"),
        de.text("goodbye"),
    ]
    assert walker.ended
    assert escalation_call_back(deps).status == "queued"


@pytest.fixture
def phone_without_hold(settings, deps):
    """A phone to an app configured with ``[escalations] hold_seconds = 0``."""
    catalog = dataclasses.replace(deps.catalog, escalation_hold=timedelta(0))
    client = create_app(settings, dataclasses.replace(deps, catalog=catalog)).test_client()

    def transport(url, form, headers):
        response = client.post(url, data=form, headers=headers)
        return response.status_code, response.get_data(as_text=True)

    return CallWalker(
        transport=transport,
        base_url=BASE_URL,
        auth_token=deps.settings.webhook_auth_token,
        to=GERMAN_LINE,
        from_=GERMAN_MOBILE,
    )


def test_without_a_hold_the_caller_hears_the_promise_and_the_sr_number_at_once(
    phone_without_hold, deps, de, german_sr, managers
):
    walker = phone_without_hold
    spoken = spoken_digits(german_sr)
    assert escalate(walker, german_sr, de) == [
        de.text("escalation_recorded", promise="15 Minuten"),
        de.text("sr_number", sr_number=spoken),
        de.text("sr_number_again", sr_number=spoken),
        de.text("readback_menu"),
    ]
    assert walker.holding is None
    assert walker.press("2") == [de.text("goodbye")]
    assert walker.ended
    assert not any(url.startswith(HOLD_URL) for url, _ in walker.requests)
    assert escalation_call_back(deps).status == "queued"


def test_a_caller_who_hangs_up_on_hold_loses_nothing(phone, deps, clock, de, german_sr, managers):
    walker = phone()
    escalate(walker, german_sr, de)
    hold_on(walker, clock)
    walker.hang_up()
    call = read_one(deps, Call)
    assert (call.status, call.is_settled, call.outcome) == ("completed", True, "escalation")
    assert the_escalation(deps).status == "raised"  # the duty managers are still rung
    assert len(read_rows(deps, Escalation)) == 1
    # The SR's own callback from before, and the escalation's: nothing more, nothing less.
    assert len(read_rows(deps, Callback)) == 2
    assert escalation_call_back(deps).status == "queued"


def test_a_poll_sent_twice_or_late_changes_nothing(phone, deps, clock, de, german_sr, managers):
    walker = phone()
    escalate(walker, german_sr, de)
    hold_on(walker, clock)
    url, form = walker.requests[-1]

    def stored():
        with transaction(deps.session_factory) as session:
            call = session.scalars(select(Call)).one()
            turns = session.scalar(select(func.count()).select_from(CallTurn))
            events = session.scalar(select(func.count()).select_from(EscalationEvent))
            return call.version, call.turn, turns, events

    before = stored()
    first = walker.responses[-1]
    assert walker.post(url, form) == first  # Twilio's retry of the same poll
    assert stored() == before
    # A poll arriving after the call was told the promise only hears it again.
    clock.advance(minutes=5)
    late = walker.post(url, form)
    assert de.text("escalation_hold_call_back", promise="15 Minuten") in late
    assert "<Hangup" in late
    assert stored() == before


def test_the_settling_turn_sent_twice_begins_the_hold_once(
    phone, deps, clock, de, german_sr, managers
):
    walker = phone()
    escalate(walker, german_sr, de)
    url, form = walker.requests[-1]
    assert walker.post(url, form) == walker.responses[-2]
    assert len(read_rows(deps, Escalation)) == 1
    actions = [e.action for e in sorted(read_rows(deps, EscalationEvent), key=lambda e: e.id)]
    assert actions == ["raised", "ringing_started", "ring"]  # raised and rung once
    assert hold_on(walker, clock) == []


def test_a_second_caller_on_an_sr_already_escalated_is_not_held(
    phone, deps, clock, de, german_sr, managers
):
    escalate(phone(), german_sr, de)
    second = phone(GERMAN_LINE, "+4930123456")
    second.dial()
    second.press("3")
    second.press(f"{german_sr}#")
    second.press("1")
    second.press("1")
    second.press("1")
    second.press("2")
    # The escalation's managers were rung for the first caller: this one hears the promise.
    assert second.press("1")[0] == de.text("escalation_recorded", promise="15 Minuten")
    assert second.holding is None


class _BrokenDesk:
    """The escalation desk of a database that went away after the hold began."""

    def __init__(self, real) -> None:
        self.real = real

    def raise_escalation(self, session, request, *, now):
        return self.real.raise_escalation(session, request, now=now)

    def raise_severity(self, session, request, *, now):
        return self.real.raise_severity(session, request, now=now)

    def escalation_of_call(self, session, call_sid):
        raise RuntimeError("database away")


def test_a_hold_that_cannot_be_read_ends_with_the_call_back_promise(
    phone, settings, deps, clock, de, german_sr, managers
):
    walker = phone()
    escalate(walker, german_sr, de)
    broken = create_app(
        settings, dataclasses.replace(deps, escalations=_BrokenDesk(deps.escalations))
    ).test_client()

    def transport(url, form, headers):
        response = broken.post(url, data=form, headers=headers)
        return response.status_code, response.get_data(as_text=True)

    walker.transport = transport
    # The call back was queued before the hold began: the promise is true.
    assert hold_on(walker, clock) == [
        de.text("escalation_hold_call_back", promise="15 Minuten"),
        de.text("goodbye"),
    ]


def test_a_poll_for_a_call_never_stored_only_says_goodbye(phone, de):
    walker = phone()
    assert "<Hangup" in walker.post(HOLD_URL + "?said=0", {})
    assert de.text("goodbye") in walker.responses[-1]
    assert de.text("escalation_hold_call_back", promise="15 Minuten") not in walker.responses[-1]


def test_an_unsigned_or_badly_signed_poll_is_refused(client):
    form = {"CallSid": "CA" + "0" * 32, "To": GERMAN_LINE, "From": GERMAN_MOBILE}
    assert client.post(HOLD_URL, data=form).status_code == 403
    bad = {"X-Twilio-Signature": "not-a-signature"}
    assert client.post(HOLD_URL, data=form, headers=bad).status_code == 403
