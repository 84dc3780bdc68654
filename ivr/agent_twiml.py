"""TwiML for the agent's leg of a callback call: whisper, "press 1", dial the customer, outcome."""

from __future__ import annotations

from datetime import timedelta

from twilio.twiml.voice_response import VoiceResponse

from callbacks.calls import AGENT_LEG_PATH, CallSummary, LegResult, Reply
from callbacks.lifecycle import Disposition
from callbacks.models import CallbackStatus
from intake.catalog import PromptSet, Region
from ivr import call_legs
from ivr.call_legs import say
from ivr.prompts import spoken_digits

GATHER_TIMEOUT_SECONDS = 5
# Twilio's <Say> takes a few thousand characters; the agent reads the rest on screen.
DESCRIPTION_LIMIT = 1000
GONE_TEXT = "This callback is no longer waiting for you. Goodbye."

NOT_REACHED_PROMPTS = {
    Disposition.BUSY: "agent_not_reached_busy",
    Disposition.NO_ANSWER: "agent_not_reached_no_answer",
    Disposition.ANSWERING_MACHINE: "agent_not_reached_machine",
}


def leg_url(base: str, step: str, query: str, **more: int) -> str:
    """The absolute URL of one webhook of the agent's leg (``step`` "" is the answer)."""
    return call_legs.leg_url(base, AGENT_LEG_PATH, step, query, **more)


def spoken_time(left: timedelta, prompts: PromptSet) -> str:
    """A stretch of time as the agent hears it: minutes up to two hours, then whole hours."""
    minutes = int(abs(left.total_seconds()) // 60)
    if minutes < 2:
        return prompts.text("agent_time_moment")  # keeps the prompts free of singular forms
    if minutes < 120:
        return prompts.text("promise_minutes", count=str(minutes))
    return prompts.text("promise_hours", count=str(minutes // 60))


def summary_texts(summary: CallSummary, prompts: PromptSet) -> list[str]:
    """The whisper: the SR digit by digit, who, the time to the promise, the description."""
    unknown = prompts.text("agent_unknown")
    texts = [
        prompts.text("agent_whisper_intro", sr_number=spoken_digits(summary.sr_number)),
        prompts.text(
            "agent_whisper_contact",
            name=summary.contact_name or unknown,
            company=summary.company or unknown,
        ),
    ]
    time = spoken_time(summary.time_left, prompts)
    if summary.time_left >= timedelta(0):
        texts.append(prompts.text("agent_whisper_time_left", time=time))
    else:
        texts.append(prompts.text("agent_whisper_overdue", time=time))
    if summary.description:
        description = summary.description[:DESCRIPTION_LIMIT]
        texts.append(prompts.text("agent_whisper_description", description=description))
    return texts


def render_leg(
    result: LegResult,
    *,
    region: Region | None,
    prompts: PromptSet | None,
    base: str,
    query: str,
    ring_seconds: int,
    heard_nothing: bool = False,
) -> str:
    """TwiML for ``result``: what the agent hears next (or the customer's leg, when screened).

    ``heard_nothing``: a question asked again after silence rather than a wrong key.
    """
    reply = result.reply
    if reply is Reply.BRIDGE:
        return str(VoiceResponse())  # an empty document: Twilio connects the two calls
    response = VoiceResponse()
    if reply is Reply.HANG_UP_CUSTOMER:
        response.hangup()
        return str(response)
    if region is None or prompts is None or reply is Reply.GONE:
        return _goodbye(response, region, prompts)
    if reply in (Reply.WHISPER, Reply.ASK_AGAIN):
        texts = []
        if result.summary is not None:
            texts = summary_texts(result.summary, prompts)
        elif reply is Reply.ASK_AGAIN:
            texts = [prompts.text("no_input" if heard_nothing else "not_understood")]
        call_legs.ask_for_a_key(
            response,
            [*texts, prompts.text("agent_press")],
            region=region,
            key_url=leg_url(base, "key", query, **{"try": result.tries}),
            again_url=leg_url(base, "", query, **{"try": result.tries + 1}),
            timeout=GATHER_TIMEOUT_SECONDS,
        )
        return str(response)
    if reply is Reply.DIAL_CUSTOMER:
        say(response, prompts.text("agent_calling_customer"), region)
        dial = response.dial(
            caller_id=region.numbers[0],
            action=leg_url(base, "dialed", query),
            method="POST",
            timeout=ring_seconds,
        )
        # The customer's answer is screened first (AnsweredBy): a machine is hung up on.
        dial.number(
            result.customer_number or "",
            machine_detection="Enable",
            url=leg_url(base, "screen", query),
            method="POST",
        )
        return str(response)
    for text in _closing_texts(result, prompts):
        say(response, text, region)
    response.hangup()
    return str(response)


def _closing_texts(result: LegResult, prompts: PromptSet) -> list[str]:
    if result.reply is Reply.RELEASED:
        return [prompts.text("agent_released")]
    if result.reply is Reply.NO_KEY:
        return [prompts.text("agent_no_key")]
    if result.reply is Reply.REACHED:
        return [prompts.text("agent_reached")]
    # Not reached: why, then whether another try follows.
    texts = []
    if result.disposition in NOT_REACHED_PROMPTS:
        texts.append(prompts.text(NOT_REACHED_PROMPTS[result.disposition]))
    closed = result.status is CallbackStatus.UNREACHABLE
    texts.append(prompts.text("agent_unreachable" if closed else "agent_retry_scheduled"))
    return texts


def _goodbye(response: VoiceResponse, region: Region | None, prompts: PromptSet | None) -> str:
    if region is not None and prompts is not None:
        say(response, prompts.text("agent_callback_gone"), region)
    else:
        response.say(GONE_TEXT, language="en-US")
    response.hangup()
    return str(response)
