"""TwiML for a duty manager's call of an escalation: the summary, "1 accept, 2 pass on, 3 hear
it again", and what followed."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from escalations.ring_chain import Reply
from escalations.ringing import MANAGER_LEG_PATH, RingResult, RingSummary
from intake.catalog import PromptSet, Region
from ivr import call_legs
from ivr.agent_twiml import spoken_time
from ivr.call_legs import say
from ivr.prompts import spoken_digits

GATHER_TIMEOUT_SECONDS = 5
GONE_TEXT = "This escalation is no longer waiting for you. Goodbye."

CLOSING_PROMPTS = {
    Reply.ACCEPTED: "manager_accepted",
    Reply.PASSED: "manager_passed",
    Reply.NO_KEY: "manager_no_key",
    Reply.GONE: "manager_gone",
}


def leg_url(base: str, step: str, query: str, **more: int) -> str:
    """The absolute URL of one webhook of the manager's call (``step`` "" is the answer)."""
    return call_legs.leg_url(base, MANAGER_LEG_PATH, step, query, **more)


def summary_texts(summary: RingSummary, prompts: PromptSet) -> list[str]:
    """What the duty manager hears first: the SR digit by digit, the company, why, how long ago."""
    texts = [prompts.text("manager_whisper_intro", sr_number=spoken_digits(summary.sr_number))]
    if summary.company:
        texts.append(prompts.text("manager_whisper_company", company=summary.company))
    if summary.is_us_government:
        texts.append(prompts.text("manager_whisper_us_government"))
    texts.append(prompts.text(f"manager_reason_{summary.reason}"))
    texts.append(
        prompts.text("manager_whisper_waiting", time=spoken_time(summary.waiting, prompts))
    )
    return texts


def render_ring(
    result: RingResult,
    *,
    region: Region | None,
    prompts: PromptSet | None,
    base: str,
    query: str,
    heard_nothing: bool = False,
) -> str:
    """TwiML for ``result``. ``heard_nothing``: asked again after silence, not a wrong key."""
    response = VoiceResponse()
    reply = result.reply
    if reply is Reply.HANG_UP:
        response.hangup()
        return str(response)
    if region is None or prompts is None:
        response.say(GONE_TEXT, language="en-US")
        response.hangup()
        return str(response)
    if reply in (Reply.SUMMARY, Reply.ASK_AGAIN):
        if result.summary is not None:
            texts = summary_texts(result.summary, prompts)
        else:
            texts = [prompts.text("no_input" if heard_nothing else "not_understood")]
        call_legs.ask_for_a_key(
            response,
            [*texts, prompts.text("manager_press")],
            region=region,
            key_url=leg_url(base, "key", query, **{"try": result.tries}),
            again_url=leg_url(base, "", query, **{"try": result.tries + 1}),
            timeout=GATHER_TIMEOUT_SECONDS,
        )
        return str(response)
    if reply is Reply.TAKEN:
        say(response, prompts.text("manager_taken", name=result.owner or "-"), region)
    else:
        say(response, prompts.text(CLOSING_PROMPTS[reply]), region)
    response.hangup()
    return str(response)
