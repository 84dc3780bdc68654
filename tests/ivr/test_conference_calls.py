"""The conference call's webhooks through the Flask test client: signed or refused, always
TwiML for a phone, events once; the dial-in line walked with the signed call walker."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import select

from db.transaction import transaction
from escalations.conference_records import ConferenceParticipant, ParticipantKind
from escalations.conference_rules import ParticipantState
from escalations.conferences import (
    DIAL_IN_PATH,
    EVENTS_PATH,
    LEG_PATH,
    LEG_STATUS_PATH,
    ConferenceView,
    Invitee,
    conference_view,
    start_conference,
)
from escalations.history import Actor
from escalations.records import Escalation, EscalationEvent
from ivr.call_walker import CallWalker
from ivr.prompts import spoken_digits
from tests.conftest import BASE_URL
from tests.ivr.test_webhooks import signed_post, twiml
from tests.support.conference_rows import (
    DIAL_IN_LINE,
    EVA_PHONE,
    escalation_for_conference,
    with_dial_in,
)
from tests.support.intake_rows import GERMAN_MOBILE

GERMAN_LINE = "+498001006711"
LEG = {
    "AccountSid": "AC" + "0" * 32,
    "CallSid": "CA" + "c" * 32,
    "From": GERMAN_LINE,
    "To": EVA_PHONE,
    "Direction": "outbound-api",
    "CallStatus": "in-progress",
}


@pytest.fixture
def catalog(catalog):
    """The shipped catalog with a dial-in line for the German region."""
    return with_dial_in(catalog)


@pytest.fixture
def conference(deps, catalog, clock) -> ConferenceView:
    """A conference dialling the engineer and the duty manager of an accepted escalation."""
    with transaction(deps.session_factory) as session:
        esc = escalation_for_conference(session, catalog=catalog, now=clock.now())
        return start_conference(
            session,
            esc.id,
            invitees=[Invitee(ParticipantKind.ENGINEER), Invitee(ParticipantKind.DUTY_MANAGER)],
            by=Actor("mia"),
            now=clock.now(),
            catalog=catalog,
        )


def leg_path(conference: ConferenceView, index: int = 0, status: bool = False) -> str:
    path = LEG_STATUS_PATH if status else LEG_PATH
    return f"{path}?conference={conference.id}&participant={conference.participants[index].id}"


def events_path(conference: ConferenceView) -> str:
    return f"{EVENTS_PATH}?conference={conference.id}"


def current(deps, conference: ConferenceView) -> ConferenceView:
    with transaction(deps.session_factory) as session:
        found = conference_view(session, conference.id)
    assert found is not None
    return found


def history(deps) -> list[str]:
    with transaction(deps.session_factory) as session:
        return list(session.scalars(select(EscalationEvent.action).order_by(EscalationEvent.id)))


def says(root) -> list[str]:
    return [(node.text or "") for node in root.iter("Say")]


def sr_of(deps, conference: ConferenceView) -> str:
    with transaction(deps.session_factory) as session:
        escalation = session.get(Escalation, conference.escalation_id)
        assert escalation is not None
        return escalation.sr_number


def test_the_routes_are_where_the_domain_sends_twilio(app) -> None:
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert {LEG_PATH, LEG_STATUS_PATH, EVENTS_PATH, DIAL_IN_PATH, f"{DIAL_IN_PATH}/pin"} <= rules


@pytest.mark.parametrize("which", ["leg", "status", "events", "dial-in", "pin"])
def test_every_conference_webhook_refuses_a_bad_signature_and_changes_nothing(
    client, deps, conference, which
) -> None:
    path = {
        "leg": leg_path(conference),
        "status": leg_path(conference, status=True),
        "events": events_path(conference),
        "dial-in": DIAL_IN_PATH,
        "pin": f"{DIAL_IN_PATH}/pin?try=1",
    }[which]
    form = {**LEG, "CallStatus": "busy", "StatusCallbackEvent": "conference-end"}
    form |= {"Digits": conference.pin, "To": DIAL_IN_LINE}
    before = (history(deps), current(deps, conference))
    assert client.post(path, data=form).status_code == 403
    assert signed_post(client, path, form, token="another-token").status_code == 403
    assert (history(deps), current(deps, conference)) == before


def test_the_picked_up_leg_hears_the_sr_then_joins_the_conference(
    client, deps, conference, de
) -> None:
    root = twiml(signed_post(client, leg_path(conference), LEG))

    assert says(root) == [
        de.text("conference_intro", sr_number=spoken_digits(sr_of(deps, conference)))
    ]
    assert {(n.get("voice"), n.get("language")) for n in root.iter("Say")} == {
        ("Polly.Vicki-Neural", "de-DE")
    }
    [dial] = root.findall("Dial")
    [room] = dial.findall("Conference")
    assert room.text == conference.name
    assert room.get("statusCallback") == f"{BASE_URL}{events_path(conference)}"
    assert room.get("statusCallbackEvent") == "start end join leave"
    assert (room.get("startConferenceOnEnter"), room.get("endConferenceOnExit")) == (
        "true",
        "false",
    )
    with transaction(deps.session_factory) as session:
        engineer = session.get(ConferenceParticipant, conference.participants[0].id)
        assert engineer is not None
        assert engineer.call_sid == LEG["CallSid"]


def test_a_leg_picked_up_after_the_conference_ended_hears_goodbye(
    client, deps, conference, de
) -> None:
    for index, status in enumerate(("no-answer", "busy")):
        form = {**LEG, "CallStatus": status}
        response = signed_post(client, leg_path(conference, index, status=True), form)
        assert response.status_code == 204
    assert current(deps, conference).ended_at is not None

    root = twiml(signed_post(client, leg_path(conference), LEG))
    assert says(root) == [de.text("conference_over")]
    assert root.find("Hangup") is not None
    assert root.find("Dial") is None


@pytest.mark.parametrize("query", ["", "?conference=4242&participant=1", "?conference=x"])
def test_a_leg_of_no_known_conference_hears_goodbye_in_english(client, query) -> None:
    root = twiml(signed_post(client, f"{LEG_PATH}{query}", LEG))
    assert says(root) == ["This conference call has already ended. Goodbye."]
    assert root.find("Hangup") is not None


def test_conference_events_are_recorded_once_with_twilios_timestamp(
    client, deps, conference, clock
) -> None:
    signed_post(client, leg_path(conference), LEG)
    joined_at = clock.now() + timedelta(seconds=7)
    left_at = joined_at + timedelta(minutes=3)
    join = {
        "AccountSid": LEG["AccountSid"],
        "ConferenceSid": "CF" + "2" * 32,
        "FriendlyName": conference.name,
        "CallSid": LEG["CallSid"],
        "StatusCallbackEvent": "participant-join",
        "SequenceNumber": "2",
        "Timestamp": format_datetime(joined_at),
    }
    leave = {**join, "StatusCallbackEvent": "participant-leave", "SequenceNumber": "3"}
    leave["Timestamp"] = format_datetime(left_at)

    for form in (join, join, leave, leave):
        assert signed_post(client, events_path(conference), form).status_code == 204

    engineer = current(deps, conference).participants[0]
    assert (engineer.joined_at, engineer.left_at, engineer.seconds) == (joined_at, left_at, 180)
    assert history(deps).count("conference_participant_joined") == 1
    assert history(deps).count("conference_participant_left") == 1


def test_an_unreadable_timestamp_falls_back_to_the_clock(client, deps, conference, clock) -> None:
    signed_post(client, leg_path(conference), LEG)
    form = {
        "ConferenceSid": "CF" + "2" * 32,
        "CallSid": LEG["CallSid"],
        "StatusCallbackEvent": "participant-join",
        "Timestamp": "yesterday-ish",
    }
    assert signed_post(client, events_path(conference), form).status_code == 204
    assert current(deps, conference).participants[0].joined_at == clock.now()


# -- the dial-in line ----------------------------------------------------------------------------


@pytest.fixture
def dial_in(phone, clock):
    """A caller on the German dial-in line."""

    def call() -> CallWalker:
        walker = phone(to=DIAL_IN_LINE, from_=GERMAN_MOBILE)
        walker.clock = clock.now
        return walker

    return call


def test_a_latecomer_types_the_pin_and_joins_the_conference(
    deps, conference, dial_in, clock, de
) -> None:
    walker = dial_in()
    assert walker.dial(f"{BASE_URL}{DIAL_IN_PATH}") == [de.text("conference_ask_pin")]
    heard = walker.press(conference.pin)
    assert heard == [
        de.text("conference_intro", sr_number=spoken_digits(sr_of(deps, conference))),
        f"[in conference {conference.name}]",
    ]
    joined_at = clock.now()
    clock.advance(minutes=4)
    walker.hang_up()

    latecomer = current(deps, conference).participants[-1]
    assert (latecomer.kind, latecomer.number, latecomer.state) == (
        "dial_in",
        "***678",
        ParticipantState.LEFT,
    )
    assert (latecomer.joined_at, latecomer.seconds) == (joined_at, 240)
    # The latecomer was alone in the conference: hanging up ended it, and freed the PIN.
    assert current(deps, conference).ended_at == clock.now()


def test_a_wrong_pin_is_asked_again_and_the_third_wrong_one_says_goodbye(
    deps, conference, dial_in, de
) -> None:
    wrong = "000000" if conference.pin != "000000" else "111111"
    walker = dial_in()
    walker.dial(f"{BASE_URL}{DIAL_IN_PATH}")
    again = [de.text("conference_pin_wrong"), de.text("conference_ask_pin")]
    assert walker.press(wrong) == again
    assert walker.press("12#") == again  # too short: no lookup, still a try
    assert walker.press(wrong) == [de.text("conference_pin_gave_up")]
    assert walker.ended
    assert len(current(deps, conference).participants) == 2  # nobody joined


def test_a_right_pin_at_the_last_try_still_joins(deps, conference, dial_in, de) -> None:
    wrong = "000000" if conference.pin != "000000" else "111111"
    walker = dial_in()
    walker.dial(f"{BASE_URL}{DIAL_IN_PATH}")
    walker.press(wrong)
    walker.press(wrong)
    assert walker.press(conference.pin)[-1] == f"[in conference {conference.name}]"


def test_silence_on_the_dial_in_line_is_asked_again_then_goodbye(dial_in, de) -> None:
    walker = dial_in()
    walker.dial(f"{BASE_URL}{DIAL_IN_PATH}")
    again = [de.text("no_input"), de.text("conference_ask_pin")]
    assert walker.silence() == again
    assert walker.silence() == again
    assert walker.silence() == [de.text("conference_pin_gave_up")]
    assert walker.ended


def test_a_pin_of_an_ended_conference_is_refused(deps, client, conference, dial_in, de) -> None:
    form = {"CallSid": LEG["CallSid"], "StatusCallbackEvent": "conference-end"}
    signed_post(client, events_path(conference), form)
    walker = dial_in()
    walker.dial(f"{BASE_URL}{DIAL_IN_PATH}")
    assert walker.press(conference.pin)[0] == de.text("conference_pin_wrong")


def test_a_call_to_a_number_that_is_no_conference_line_is_turned_away(phone) -> None:
    walker = phone(to=GERMAN_LINE)
    assert walker.dial(f"{BASE_URL}{DIAL_IN_PATH}") == [
        "This number is not a conference line. Goodbye."
    ]
    assert walker.ended
