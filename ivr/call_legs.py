"""What the webhooks of the calls the hotline places share (an agent's callback call, a duty
manager's escalation ring): the leg named in the URL's query, TwiML answers, and a failure that
still answers valid TwiML."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlencode

from flask import Response, request
from twilio.twiml.voice_response import Gather, VoiceResponse

from intake.call_input import CALL_SID_LIMIT
from intake.catalog import Region

# How much of a status value (CallStatus, AnsweredBy, DialCallStatus) is read.
STATUS_LIMIT = 20


def xml(body: str) -> Response:
    """A TwiML answer."""
    return Response(body, mimetype="text/xml")


def query_int(name: str) -> int | None:
    """A whole number from the request's query (a leg's id, its number, a try), or None."""
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else None


def call_sid() -> str:
    """The request's CallSid, cut to size, for the log."""
    return request.form.get("CallSid", "-")[:CALL_SID_LIMIT]


def failure_handler(
    log: logging.Logger, event: str, *, callbacks: tuple[str, ...] = ("/status",)
) -> Callable[[Exception], Response]:
    """An error handler for a leg's blueprint: logged with the CallSid; the person on the phone
    hears an apology and the call ends, a callback (a path ending in one of ``callbacks``, which
    Twilio posts without playing the answer) gets a 500 (Twilio logs it)."""

    def handle(error: Exception) -> Response:
        log.exception("event=%s call_sid=%s path=%s", event, call_sid(), request.path)
        if request.path.endswith(callbacks):
            return Response("status callback failed\n", status=500, mimetype="text/plain")
        return xml(apology())

    return handle


def leg_url(base: str, path: str, step: str, query: str, **more: int) -> str:
    """The absolute URL of one webhook of a leg at ``path`` (``step`` "" is the answer)."""
    full = f"{path}/{step}" if step else path
    extra = f"&{urlencode(more)}" if more else ""
    return f"{base}{full}?{query}{extra}"


def say(node: VoiceResponse | Gather, text: str, region: Region) -> None:
    """Say ``text`` in the region's voice and language."""
    node.say(text, voice=region.voice, language=region.language)


def ask_for_a_key(
    response: VoiceResponse,
    texts: list[str],
    *,
    region: Region,
    key_url: str,
    again_url: str,
    timeout: int,
) -> None:
    """Say ``texts`` while listening for one key, posted to ``key_url``; silence falls through
    the <Gather> to ``again_url``, which asks again and counts the tries."""
    gather = response.gather(
        input="dtmf", num_digits=1, action=key_url, method="POST", timeout=timeout
    )
    for text in texts:
        say(gather, text, region)
    response.redirect(again_url, method="POST")


def apology() -> str:
    """What the person on the phone hears when anything failed: sorry, and the call ends."""
    response = VoiceResponse()
    response.say("Sorry, we have a technical problem. Goodbye.", language="en-US")
    response.hangup()
    return str(response)
