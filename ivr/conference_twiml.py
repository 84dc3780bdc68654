"""TwiML for an escalation's conference call: a dialled participant's leg, the dial-in line."""

from __future__ import annotations

from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from escalations.conference_calls import JoinTarget
from escalations.conference_rules import PIN_DIGITS, DialInReply
from escalations.conferences import DIAL_IN_PATH, EVENTS_PATH
from intake.catalog import PromptSet, Region
from ivr.call_legs import say
from ivr.prompts import spoken_digits

# Time for the first digit and between digits: the PIN is read off an e-mail or a chat.
PIN_TIMEOUT_SECONDS = 10
# Twilio posts these conference events (TwiML names; the callback says participant-join...).
STATUS_EVENTS = "start end join leave"
NOT_IN_SERVICE_TEXT = "This number is not a conference line. Goodbye."


def events_url(base: str, conference_id: int) -> str:
    """Where Twilio posts the conference's events."""
    return f"{base}{EVENTS_PATH}?{urlencode({'conference': conference_id})}"


def dial_in_url(base: str, step: str, tries: int) -> str:
    """The dial-in line's webhook ``step`` ("" asks, "pin" checks) at try ``tries``."""
    path = f"{DIAL_IN_PATH}/{step}" if step else DIAL_IN_PATH
    return f"{base}{path}?{urlencode({'try': tries})}"


def render_join(target: JoinTarget, *, region: Region, prompts: PromptSet, base: str) -> str:
    """The intro (the SR digit by digit), then into the conference, its events reported."""
    response = VoiceResponse()
    _join(response, target, region=region, prompts=prompts, base=base)
    return str(response)


def _join(
    response: VoiceResponse, target: JoinTarget, *, region: Region, prompts: PromptSet, base: str
) -> None:
    say(
        response,
        prompts.text("conference_intro", sr_number=spoken_digits(target.sr_number)),
        region,
    )
    dial = response.dial()
    dial.conference(
        target.name,
        status_callback=events_url(base, target.conference_id),
        status_callback_event=STATUS_EVENTS,
        status_callback_method="POST",
        # Anyone starts it and nobody ends it for the others: whoever is first waits (with
        # Twilio's hold music) for the rest; it ends when the last one leaves.
        start_conference_on_enter=True,
        end_conference_on_exit=False,
        beep=True,
    )


def render_gone(*, region: Region | None, prompts: PromptSet | None) -> str:
    """The conference is over (or unknown): goodbye."""
    response = VoiceResponse()
    if region is not None and prompts is not None:
        say(response, prompts.text("conference_over"), region)
    else:
        response.say("This conference call has already ended. Goodbye.", language="en-US")
    response.hangup()
    return str(response)


def render_dial_in(
    reply: DialInReply,
    *,
    tries: int,
    region: Region,
    prompts: PromptSet,
    base: str,
    target: JoinTarget | None = None,
) -> str:
    """What the dial-in caller hears for ``reply`` at try ``tries``."""
    response = VoiceResponse()
    if reply is DialInReply.JOIN and target is not None:
        _join(response, target, region=region, prompts=prompts, base=base)
        return str(response)
    if reply is DialInReply.GOODBYE or reply is DialInReply.JOIN:
        say(response, prompts.text("conference_pin_gave_up"), region)
        response.hangup()
        return str(response)
    # The next Gather is the next try after a wrong PIN, the same try when asking.
    ask_try = tries + 1 if reply is DialInReply.WRONG_PIN else tries
    gather = response.gather(
        input="dtmf",
        num_digits=PIN_DIGITS,
        action=dial_in_url(base, "pin", ask_try),
        method="POST",
        timeout=PIN_TIMEOUT_SECONDS,
    )
    if reply is DialInReply.WRONG_PIN:
        say(gather, prompts.text("conference_pin_wrong"), region)
    elif reply is DialInReply.ASK_AGAIN:
        say(gather, prompts.text("no_input"), region)
    say(gather, prompts.text("conference_ask_pin"), region)
    # Silence falls through <Gather>: ask again, counting the try.
    response.redirect(dial_in_url(base, "", ask_try + 1), method="POST")
    return str(response)


def render_not_in_service() -> str:
    """A call to a number that is no region's conference line."""
    response = VoiceResponse()
    response.say(NOT_IN_SERVICE_TEXT, language="en-US")
    response.hangup()
    return str(response)
