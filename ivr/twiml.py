"""Render a call-flow ``Step`` as TwiML in the region's language and voice."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlencode

from twilio.twiml.voice_response import Gather, VoiceResponse

from intake.call_steps import Step, StepKind
from intake.catalog import PromptSet, Region
from intake.escalation_hold import HOLD_ROUND_SECONDS, HoldOutcome, HoldRound
from ivr.prompts import text_of

GATHER_TIMEOUT_SECONDS = 5
# Pause between hold announcements when no hold music is configured.
HOLD_PAUSE_SECONDS = 20


def voice_url(base: str, **params: str | int) -> str:
    """The absolute URL of the voice webhook with ``params``."""
    return f"{base}/ivr/voice?{urlencode(params)}" if params else f"{base}/ivr/voice"


def _say(node: VoiceResponse | Gather, text: str, region: Region) -> None:
    node.say(text, voice=region.voice, language=region.language)


# Most steps are the same question over and over; only the turn number in their URLs differs.
# The rendered document is cached with a marker in place of the turn number.
_SEQ_MARKER = "SEQ0MARKER"
_CACHE_SIZE = 2048


def render_step(
    step: Step,
    *,
    seq: int,
    region: Region,
    prompts: PromptSet,
    base: str,
    started_ms: int | None = None,
) -> str:
    """TwiML for ``step``; answers come back to the voice webhook tagged with ``seq``.

    ``started_ms`` (the greeting's): the call's start, carried in the answer's URL as ``t``.
    """
    if any(say.digits for say in step.says):
        # A number read to this caller alone (their SR, their callback number): caching it
        # would only push the common questions out of the cache.
        started = str(started_ms) if started_ms is not None else None
        return _render(step, seq=seq, started=started, region=region, prompts=prompts, base=base)
    key = (
        json.dumps(step.to_json(), sort_keys=True),
        region.key,
        prompts.version,
        base,
        started_ms is not None,
    )
    template = _TEMPLATES.get(key)
    if template is None:
        if len(_TEMPLATES) >= _CACHE_SIZE:
            _TEMPLATES.clear()
        started = _STARTED_MARKER if started_ms is not None else None
        template = _render(
            step, seq=_SEQ_MARKER, started=started, region=region, prompts=prompts, base=base
        )
        _TEMPLATES[key] = template
    document = template.replace(_SEQ_MARKER, str(seq))
    if started_ms is not None:
        document = document.replace(_STARTED_MARKER, str(started_ms))
    return document


_TEMPLATES: dict[tuple[str, str, str, str, bool], str] = {}
_STARTED_MARKER = "STARTED0MARKER"


def _render(
    step: Step,
    *,
    seq: int | str,
    started: str | None,
    region: Region,
    prompts: PromptSet,
    base: str,
) -> str:
    response = VoiceResponse()
    texts = [text_of(prompts, say) for say in step.says]
    carried: dict[str, str | int] = {"step": step.name.value, "seq": seq}
    if step.long_speech:
        carried["long"] = 1  # the answer may be longer than a name (``ivr.webhooks``)
    if started is not None:
        carried["t"] = started
    action = voice_url(base, **carried)
    if step.kind is StepKind.HANGUP:
        for text in texts:
            _say(response, text, region)
        response.hangup()
        return str(response)
    if step.kind is StepKind.HOLD:
        for text in texts:
            _say(response, text, region)
        # The hold's first round; what was just said counts as its first "still ringing".
        _next_hold_round(response, pause=HOLD_ROUND_SECONDS, said=0, base=base)
        return str(response)
    if step.kind is StepKind.AGENT:
        for text in texts:
            _say(response, text, region)
        # Agents take callers from the queue themselves, which is their acceptance; a plain
        # <Dial> to a number could be "answered" by voicemail and lose the caller's message.
        response.enqueue(
            region.agent_line.target,
            action=action,
            method="POST",
            wait_url=f"{base}/ivr/queue/wait",
            wait_url_method="POST",
        )
        return str(response)
    if step.start_recording:
        # Only after the caller's explicit yes (BRIEF: §201 StGB, opt-in); inbound audio only.
        start = response.start()
        start.recording(
            recording_status_callback=f"{base}/ivr/status/recording",
            recording_status_callback_method="POST",
            recording_status_callback_event="completed",
            track="inbound",
        )
    gather_args: dict[str, object] = {
        "action": action,
        "method": "POST",
        "timeout": GATHER_TIMEOUT_SECONDS,
        "action_on_empty_result": step.submit_empty,
    }
    if step.kind is StepKind.SPEECH:
        # <Record transcribe> is English-only; speech recognition works in the region's language.
        gather_args.update(
            input="speech",
            language=region.language,
            # No speechModel: Twilio picks one for the language, and speechTimeout "auto" is
            # only accepted without an explicit model (Twilio warning 13335).
            speech_timeout="3" if step.long_speech else "auto",
        )
    else:
        gather_args.update(input="dtmf", finish_on_key=step.finish_on_key)
        if step.num_digits is not None:
            gather_args["num_digits"] = step.num_digits
    gather = response.gather(**gather_args)
    for text in texts:
        _say(gather, text, region)
    # Silence falls through <Gather> to here: come back as "no input" for a counted re-prompt.
    response.redirect(voice_url(base, **carried, silent=1), method="POST")
    return str(response)


def _cached(key: tuple[str | bool, ...], render: Callable[[], str]) -> str:
    """Documents that depend only on ``key`` (the hold loop asks every few seconds)."""
    document = _DOCUMENTS.get(key)
    if document is None:
        if len(_DOCUMENTS) >= _CACHE_SIZE:
            _DOCUMENTS.clear()
        document = _DOCUMENTS[key] = render()
    return document


_DOCUMENTS: dict[tuple[str | bool, ...], str] = {}


def render_queue_wait(
    *,
    leave: bool,
    region: Region,
    prompts: PromptSet,
    base: str,
    position: int | None = None,
    announced_at: int | None = None,
    queue_seconds: int = 0,
) -> str:
    """Hold announcement with the callback key, or leave the queue after the maximum wait.

    ``position``: the place in the queue to tell the caller first. The round ends by asking
    the wait URL again with ``announced_at`` (when the caller last heard their place) and
    ``queue_seconds`` (the time in the queue now) in its query.
    """
    if leave:
        return render_leave()
    if position is not None:
        # Said about once a minute per caller: not worth a place in the cache.
        return _render_queue_wait(
            region=region,
            prompts=prompts,
            base=base,
            position=position,
            said=announced_at,
            at=queue_seconds,
        )
    key = ("queue_wait", region.key, prompts.version, base, announced_at is None)
    template = _cached(
        key,
        lambda: _render_queue_wait(
            region=region,
            prompts=prompts,
            base=base,
            position=None,
            said=None if announced_at is None else _SAID_MARKER,
            at=_AT_MARKER,
        ),
    )
    document = template.replace(_AT_MARKER, str(queue_seconds))
    if announced_at is not None:
        document = document.replace(_SAID_MARKER, str(announced_at))
    return document


_SAID_MARKER = "SAID0MARKER"
_AT_MARKER = "AT0MARKER"


def queue_wait_url(base: str, *, said: int | str | None, at: int | str) -> str:
    """The hold loop's URL carrying when the caller last heard their place (``said``) and the
    time in the queue when the round began (``at``), in seconds."""
    params: dict[str, int | str] = {"at": at} if said is None else {"said": said, "at": at}
    return f"{base}/ivr/queue/wait?{urlencode(params)}"


def _render_queue_wait(
    *,
    region: Region,
    prompts: PromptSet,
    base: str,
    position: int | None,
    said: int | str | None,
    at: int | str,
) -> str:
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf",
        num_digits=1,
        action=f"{base}/ivr/queue/callback",
        method="POST",
        timeout=1,
    )
    if position == 1:
        _say(gather, prompts.text("queue_position_next"), region)
    elif position is not None:
        _say(gather, prompts.text("queue_position", position=str(position)), region)
    _say(gather, prompts.text("hold"), region)
    if region.agent_line.hold_music_url:
        gather.play(region.agent_line.hold_music_url)
    else:
        gather.pause(length=HOLD_PAUSE_SECONDS)
    # The next round, with what this one knew: Twilio would ask the wait URL again by itself,
    # but without our query.
    response.redirect(queue_wait_url(base, said=said, at=at), method="POST")
    return str(response)


def render_leave() -> str:
    """Leave the queue (the Enqueue action then takes the message)."""

    def render() -> str:
        response = VoiceResponse()
        response.leave()
        return str(response)

    return _cached(("leave",), render)


def render_back_to_hold(base: str) -> str:
    """Back to the hold loop after a key that was not the callback key."""

    def render() -> str:
        response = VoiceResponse()
        response.redirect(f"{base}/ivr/queue/wait", method="POST")
        return str(response)

    return _cached(("back_to_hold", base), render)


def escalation_hold_url(base: str, *, said: int | None) -> str:
    """The escalation hold's URL, carrying the seconds held when the caller last heard "still
    ringing" (``said``)."""
    query = f"?{urlencode({'said': said})}" if said is not None else ""
    return f"{base}/ivr/escalation/hold{query}"


def _next_hold_round(response: VoiceResponse, *, pause: int, said: int | None, base: str) -> None:
    # <Pause> then <Redirect>: the caller hears silence, and Twilio asks the hold again.
    response.pause(length=pause)
    response.redirect(escalation_hold_url(base, said=said), method="POST")


def render_escalation_hold(
    hold: HoldRound, *, region: Region, prompts: PromptSet, base: str
) -> str:
    """A round of the escalation hold: what to say, then the next round or the end of the call."""
    response = VoiceResponse()
    for say in hold.says:
        _say(response, text_of(prompts, say), region)
    if hold.outcome is HoldOutcome.HOLD:
        _next_hold_round(response, pause=hold.pause_seconds, said=hold.ringing_said_at, base=base)
    else:
        response.hangup()
    return str(response)


def render_fallback(
    *,
    region: Region | None,
    prompts: PromptSet | None,
    base: str,
    attempt: int = 1,
    hint: str = "callback_invalid",
) -> str:
    """The safe answer after any failure: still take a number to call back.

    ``hint``: on a later try, the prompt saying why the number typed before is not called."""
    response = VoiceResponse()
    action = f"{base}/ivr/fallback/number?{urlencode({'try': attempt})}"
    gather = response.gather(
        input="dtmf",
        action=action,
        method="POST",
        timeout=GATHER_TIMEOUT_SECONDS,
        finish_on_key="#",
        action_on_empty_result=True,
    )
    if region is not None and prompts is not None:
        if attempt > 1:
            _say(gather, prompts.text(hint), region)
        _say(gather, prompts.text("error_fallback"), region)
    else:
        gather.say(
            "Sorry, we are having a technical problem. Please enter the phone number where we"
            " can call you back, followed by the pound key.",
            language="en-US",
        )
    response.redirect(action, method="POST")
    return str(response)


def render_goodbye(*, text: str, region: Region | None) -> str:
    """Say ``text`` and hang up."""
    response = VoiceResponse()
    if region is not None:
        _say(response, text, region)
    else:
        response.say(text, language="en-US")
    response.hangup()
    return str(response)
