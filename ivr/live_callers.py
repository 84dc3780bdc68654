"""Live callers: the agent's leg of "take the next caller" (whisper, press 1, bridge), and the
waiting caller's side of the bridge.

The agent's phone is rung by the worker (``intake.live_callers.request_next_caller``); Twilio
then asks ``/ivr/agent/next-caller`` what the agent hears.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from flask import Blueprint, Response, request
from twilio.twiml.voice_response import VoiceResponse

from config.dependencies import Dependencies, current
from db.transaction import read_connection
from db.unit_of_work import read_then_write
from intake.catalog import PromptSet, Region
from intake.hold import record_queue_bridged
from intake.live_callers import NEXT_CALLER_PATH, answer_whisper
from intake.next_caller_flow import NextCallerAction
from ivr.signature import public_url, twilio_signed

log = logging.getLogger("hotline.ivr")
bp = Blueprint("ivr_live_callers", __name__, url_prefix="/ivr")

# How long the agent's <Dial><Queue> waits for a caller when the queue turns out empty (a
# caller left between our look and Twilio's): then the agent hears that nobody waits.
QUEUE_DIAL_TIMEOUT_SECONDS = 10
WHISPER_TIMEOUT_SECONDS = 5
_CONNECTED = frozenset({"completed", "answered"})


def _xml(body: str) -> Response:
    return Response(body, mimetype="text/xml")


@bp.errorhandler(Exception)
def _any_failure(error: Exception) -> Response:
    """Whatever failed, Twilio gets TwiML: the agent hears of a problem (no caller is lost: they
    stay in the queue)."""
    log.exception(
        "event=webhook_error call_sid=%s path=%s", request.form.get("CallSid", "-"), request.path
    )
    response = VoiceResponse()
    response.say("Sorry, there is a technical problem. Please try again.", language="en-US")
    response.hangup()
    return _xml(str(response))


def _region(deps: Dependencies) -> Region | None:
    key = request.args.get("region", "")
    for region in deps.catalog.regions:
        if region.key == key:
            return region
    return None


def _attempt() -> int:
    value = request.args.get("try", "")
    return int(value) if value.isdigit() and len(value) < 3 else 1


def _url(path: str, region: Region, **extra: str | int) -> str:
    params: dict[str, str | int] = {"agent": request.args.get("agent", ""), "region": region.key}
    return public_url(f"{path}?{urlencode({**params, **extra})}")


def _say(response: VoiceResponse, text: str, region: Region) -> None:
    response.say(text, voice=region.voice, language=region.language)


def _goodbye(text: str, region: Region) -> Response:
    response = VoiceResponse()
    _say(response, text, region)
    response.hangup()
    return _xml(str(response))


def _unknown_region() -> Response:
    log.warning("event=next_caller_unknown_region region=%s", request.args.get("region", "-"))
    response = VoiceResponse()
    response.say("This region is not configured. Goodbye.", language="en-US")
    response.hangup()
    return _xml(str(response))


def _whisper(region: Region, prompts: PromptSet, attempt: int) -> Response:
    """Press 1 to take the next caller; silence comes back to the key URL as no key."""
    response = VoiceResponse()
    key_url = _url(f"{NEXT_CALLER_PATH}/key", region, **{"try": attempt})
    gather = response.gather(
        input="dtmf",
        num_digits=1,
        action=key_url,
        method="POST",
        timeout=WHISPER_TIMEOUT_SECONDS,
    )
    gather.say(prompts.text("next_caller_whisper"), voice=region.voice, language=region.language)
    response.redirect(_url(f"{NEXT_CALLER_PATH}/key", region, **{"try": attempt, "silent": 1}))
    return _xml(str(response))


@bp.post("/agent/next-caller")
@twilio_signed
def next_caller() -> Response:
    """The agent answered the call that rings them for the next caller: the whisper."""
    deps = current()
    region = _region(deps)
    if region is None:
        return _unknown_region()
    log.info(
        "event=next_caller_answered call_sid=%s agent=%s",
        request.form.get("CallSid", "-"),
        request.args.get("agent", "-"),
    )
    return _whisper(region, deps.catalog.prompts_for(region.language), _attempt())


@bp.post("/agent/next-caller/key")
@twilio_signed
def next_caller_key() -> Response:
    """The agent's key after the whisper (or silence): bridge, nobody waiting, ask again."""
    deps = current()
    region = _region(deps)
    if region is None:
        return _unknown_region()
    prompts = deps.catalog.prompts_for(region.language)
    digits = None if request.args.get("silent") == "1" else request.form.get("Digits")
    with read_connection(deps.session_factory) as reader:
        turn = answer_whisper(
            reader, region=region, digits=digits, attempt=_attempt(), now=deps.clock.now()
        )
    log.info(
        "event=next_caller_key call_sid=%s agent=%s action=%s",
        request.form.get("CallSid", "-"),
        request.args.get("agent", "-"),
        turn.action.value,
    )
    if turn.action is NextCallerAction.WHISPER:
        return _whisper(region, prompts, turn.attempt)
    if turn.action is NextCallerAction.GIVE_UP:
        return _goodbye(prompts.text("next_caller_no_key"), region)
    if turn.action is NextCallerAction.NOBODY_WAITING:
        return _goodbye(prompts.text("next_caller_nobody_waiting"), region)
    response = VoiceResponse()
    # Twilio bridges the queue's longest-waiting caller; the caller's side first fetches the
    # Queue url (``queue_bridged``), which marks them as taken.
    dial = response.dial(
        action=_url(f"{NEXT_CALLER_PATH}/done", region),
        method="POST",
        timeout=QUEUE_DIAL_TIMEOUT_SECONDS,
    )
    dial.queue(region.agent_line.target, url=public_url("/ivr/queue/bridged"), method="POST")
    return _xml(str(response))


@bp.post("/agent/next-caller/done")
@twilio_signed
def next_caller_done() -> Response:
    """The agent's <Dial><Queue> ended: after a talk, hang up; with nobody bridged, say so."""
    deps = current()
    region = _region(deps)
    if region is None:
        return _unknown_region()
    status = request.form.get("DialCallStatus", "")
    log.info(
        "event=next_caller_done call_sid=%s agent=%s status=%s",
        request.form.get("CallSid", "-"),
        request.args.get("agent", "-"),
        status or "-",
    )
    if status in _CONNECTED:
        response = VoiceResponse()
        response.hangup()
        return _xml(str(response))
    return _goodbye(
        deps.catalog.prompts_for(region.language).text("next_caller_nobody_waiting"), region
    )


@bp.post("/queue/bridged")
@twilio_signed
def queue_bridged() -> Response:
    """The waiting caller's side of an agent's <Dial><Queue>, just before they are connected:
    the caller is no longer waiting. Nothing is said (Twilio allows Say, Play, Pause, Redirect)."""
    deps = current()
    call_sid = request.form.get("CallSid", "")
    now = deps.clock.now()
    try:
        known = read_then_write(
            deps.session_factory,
            lambda reading: record_queue_bridged(reading, call_sid=call_sid, now=now),
        )
    except Exception:
        # The bridge happens whatever we answer; the queue's result records it later.
        log.exception("event=queue_bridged_error call_sid=%s", call_sid)
        known = False
    log.info(
        "event=queue_bridged call_sid=%s by=%s known=%s",
        call_sid,
        request.form.get("DequeingCallSid", "-"),
        known,
    )
    return _xml(str(VoiceResponse()))
