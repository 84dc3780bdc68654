"""The caller-flow webhooks: every Twilio voice request of an inbound call."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Blueprint, Response, request

from config.dependencies import Dependencies, current
from db.spool import SpoolError
from db.transaction import read_connection, read_transaction
from db.unit_of_work import read_then_write
from intake.call_input import (
    ADDRESS_LIMIT,
    CALL_SID_LIMIT,
    DIGITS_LIMIT,
    LONG_SPEECH_LIMIT,
    SPEECH_LIMIT,
    CallerInput,
    UnknownCall,
    UnknownNumber,
    cut,
)
from intake.escalation_hold import HoldOutcome, escalation_hold, hold_not_read
from intake.fallback import (
    FallbackOutcome,
    SpooledNumber,
    asks_again,
    record_fallback_number,
    why_asked_again,
)
from intake.hold import queue_wait, request_queue_callback, time_in_queue
from intake.log_masks import mask_phone
from intake.turns import greet, take_turn
from ivr import twiml
from ivr.signature import public_url, twilio_signed

log = logging.getLogger("hotline.ivr")
bp = Blueprint("ivr", __name__, url_prefix="/ivr")

UNKNOWN_NUMBER_TEXT = "Sorry, this number is not in service. Please check the number. Goodbye."


def _xml(body: str) -> Response:
    return Response(body, mimetype="text/xml")


def _base() -> str:
    return public_url("")


def _caller_input() -> CallerInput:
    """The webhook's form as a typed value, every field cut to the limit stored (see
    ``intake.call_input``); the answer to a long question (``long=1``) may be longer."""
    form = request.form
    confidence = form.get("Confidence")
    speech_limit = LONG_SPEECH_LIMIT if request.args.get("long") == "1" else SPEECH_LIMIT
    return CallerInput(
        call_sid=form.get("CallSid", "")[:CALL_SID_LIMIT],
        to_number=form.get("To", "")[:ADDRESS_LIMIT],
        from_number=cut(form.get("From") or None, ADDRESS_LIMIT),
        digits=cut(form.get("Digits"), DIGITS_LIMIT),
        speech=cut(form.get("SpeechResult"), speech_limit),
        confidence=_confidence(confidence),
        agent_result=form.get("QueueResult"),
        is_no_input=request.args.get("silent") == "1",
        started_at=_started_at(),
    )


def _confidence(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _started_at() -> datetime | None:
    """The greeting's time, which the first answer's URL carries (``t``, epoch milliseconds)."""
    value = request.args.get("t", "")
    if not value.isdigit():
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _seq() -> int:
    try:
        return max(0, int(request.args.get("seq", "0")))
    except ValueError:
        return 0


def _fallback(deps: Dependencies) -> Response:
    region = deps.catalog.region_for_number(request.form.get("To", ""))
    prompts = deps.catalog.prompts_for(region.language) if region is not None else None
    return _xml(twiml.render_fallback(region=region, prompts=prompts, base=_base()))


@bp.errorhandler(Exception)
def _any_failure(error: Exception) -> Response:
    """Whatever failed (rendering included), the caller still hears how to leave a number."""
    log.exception(
        "event=webhook_error call_sid=%s path=%s", request.form.get("CallSid", "-"), request.path
    )
    return _fallback(current())


@bp.post("/voice")
@twilio_signed
def voice() -> Response:
    """Every turn of the caller flow: apply the input once, answer with the next step."""
    deps = current()
    inp = _caller_input()
    seq = _seq()
    try:
        now = deps.clock.now()
        context = deps.call_context(now)
        if seq == 0:
            result = greet(inp, context=context)
        else:
            result = read_then_write(
                deps.session_factory,
                lambda reading: take_turn(reading, inp, seq=seq, context=context),
            )
    except UnknownNumber:
        log.warning(
            "event=unknown_number call_sid=%s to=%s", inp.call_sid, mask_phone(inp.to_number)
        )
        return _xml(twiml.render_goodbye(text=UNKNOWN_NUMBER_TEXT, region=None))
    except UnknownCall:
        log.warning("event=unknown_call call_sid=%s seq=%s", inp.call_sid, seq)
        return _fallback(deps)
    except Exception:
        log.exception(
            "event=webhook_error call_sid=%s step=%s", inp.call_sid, request.args.get("step")
        )
        return _fallback(deps)
    # The transaction has committed: only now may an SR number be read to the caller.
    region = deps.catalog.region(result.region)
    log.info(
        "event=turn call_sid=%s seq=%s step=%s sr=%s replay=%s",
        inp.call_sid,
        seq,
        result.step.name.value,
        result.sr_number or "-",
        result.is_replay,
    )
    return _xml(
        twiml.render_step(
            result.step,
            seq=result.seq,
            region=region,
            prompts=deps.catalog.prompts_for(result.language),
            base=_base(),
            started_ms=int(now.timestamp() * 1000) if seq == 0 else None,
        )
    )


@bp.post("/queue/wait")
@twilio_signed
def queue_wait_view() -> Response:
    """Hold loop of a caller waiting for an agent (Enqueue's waitUrl, then its own redirect)."""
    deps = current()
    call_sid = request.form.get("CallSid", "")
    try:
        seconds = time_in_queue(_form_int("QueueTime"), round_began_at=_arg_int("at"))
        with read_connection(deps.session_factory) as reader:
            wait = queue_wait(
                reader,
                call_sid=call_sid,
                queue_seconds=seconds,
                catalog=deps.catalog,
                position=_form_int("QueuePosition"),
                announced_at=_arg_int("said"),
            )
    except Exception:
        log.exception("event=queue_wait_error call_sid=%s", call_sid)
        return _xml(twiml.render_leave())
    if wait is None:
        return _xml(twiml.render_leave())
    if wait.leave:
        log.info("event=queue_timeout call_sid=%s seconds=%s", call_sid, seconds)
    region = deps.catalog.region(wait.region)
    return _xml(
        twiml.render_queue_wait(
            leave=wait.leave,
            region=region,
            prompts=deps.catalog.prompts_for(wait.language),
            base=_base(),
            position=wait.position,
            announced_at=wait.announced_at,
            queue_seconds=seconds,
        )
    )


def _form_int(name: str) -> int | None:
    value = request.form.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else None


def _arg_int(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else None


@bp.post("/queue/callback")
@twilio_signed
def queue_callback_view() -> Response:
    """A key pressed while on hold: 1 leaves the queue for a callback, keeping the place."""
    deps = current()
    call_sid = request.form.get("CallSid", "")
    if request.form.get("Digits") != "1":
        return _xml(twiml.render_back_to_hold(_base()))
    context = deps.call_context(deps.clock.now())
    try:
        read_then_write(
            deps.session_factory,
            lambda reading: request_queue_callback(reading, call_sid=call_sid, context=context),
        )
    except Exception:
        log.exception("event=queue_callback_error call_sid=%s", call_sid)
    log.info("event=queue_callback call_sid=%s", call_sid)
    return _xml(twiml.render_leave())


@bp.post("/escalation/hold")
@twilio_signed
def escalation_hold_view() -> Response:
    """A round of the hold of a caller who escalated, while the duty managers are rung: keep
    holding, hear who accepted, or hear the call back promise (``intake.escalation_hold``)."""
    deps = current()
    call_sid = request.form.get("CallSid", "")
    context = deps.call_context(deps.clock.now())
    failed = False
    try:
        with read_transaction(deps.session_factory) as session:
            hold = escalation_hold(
                session, call_sid=call_sid, ringing_said_at=_arg_int("said"), context=context
            )
    except Exception:
        log.exception("event=escalation_hold_error call_sid=%s", call_sid)
        hold, failed = None, True
    if hold is None:
        if not failed:
            log.warning("event=unknown_call call_sid=%s step=escalation_hold", call_sid)
        region = deps.catalog.region_for_number(request.form.get("To", ""))
        if region is None:
            return _xml(twiml.render_goodbye(text=UNKNOWN_NUMBER_TEXT, region=None))
        ending = hold_not_read(deps.catalog, region.language, failed=failed)
        prompts = deps.catalog.prompts_for(region.language)
        return _xml(
            twiml.render_escalation_hold(ending, region=region, prompts=prompts, base=_base())
        )
    if hold.round.outcome is not HoldOutcome.HOLD:
        # No name in the log (intake/log_masks.py): the escalation's history says who accepted.
        log.info(
            "event=escalation_hold_end call_sid=%s escalation=%s outcome=%s held=%s",
            call_sid,
            hold.escalation_id or "-",
            hold.round.outcome.value,
            hold.seconds_held,
        )
    return _xml(
        twiml.render_escalation_hold(
            hold.round,
            region=deps.catalog.region(hold.region),
            prompts=deps.catalog.prompts_for(hold.language),
            base=_base(),
        )
    )


@bp.post("/fallback")
@twilio_signed
def fallback() -> Response:
    """Twilio's fallback URL: the primary answer failed, so take a number to call back."""
    deps = current()
    log.error(
        "event=fallback call_sid=%s error_code=%s error_url=%s",
        request.form.get("CallSid", "-"),
        request.form.get("ErrorCode", "-"),
        request.form.get("ErrorUrl", "-"),
    )
    return _fallback(deps)


@bp.post("/fallback/number")
@twilio_signed
def fallback_number() -> Response:
    """Keep the number typed after a failure (or the caller ID) and promise a callback."""
    deps = current()
    inp = _caller_input()
    region = deps.catalog.region_for_number(inp.to_number)
    attempt = _query_int("try", default=1)
    # Logged before anything else, so the number survives even if the database does not.
    log.info(
        "event=fallback_number call_sid=%s from=%s typed=%s try=%s",
        inp.call_sid,
        mask_phone(inp.from_number),
        mask_phone(inp.digits),
        attempt,
    )
    outcome = FallbackOutcome(None, ask_again=False)
    now = deps.clock.now()
    context = deps.call_context(now)
    try:
        outcome = read_then_write(
            deps.session_factory,
            lambda reading: record_fallback_number(reading, inp, attempt=attempt, context=context),
        )
    except Exception as exc:
        log.error(
            "event=fallback_number_database_away call_sid=%s error=%s",
            inp.call_sid,
            type(exc).__name__,
        )
        outcome = _keep_in_spool(deps, inp, attempt=attempt, now=now)
    if region is None:
        return _xml(twiml.render_goodbye(text="Thank you. Goodbye.", region=None))
    prompts = deps.catalog.prompts_for(region.language)
    if outcome.ask_again:
        hint = why_asked_again(inp, catalog=deps.catalog)
        return _xml(
            twiml.render_fallback(
                region=region, prompts=prompts, base=_base(), attempt=attempt + 1, hint=hint
            )
        )
    log.info(
        "event=fallback_settled call_sid=%s sr=%s spooled=%s",
        inp.call_sid,
        outcome.sr_number or "-",
        outcome.is_spooled,
    )
    closing = "fallback_thanks" if outcome.sr_number or outcome.is_spooled else "no_number_goodbye"
    return _xml(twiml.render_goodbye(text=prompts.text(closing), region=region))


def _keep_in_spool(
    deps: Dependencies, inp: CallerInput, *, attempt: int, now: datetime
) -> FallbackOutcome:
    """The database is away: keep the number on this host's disk for the worker to replay."""
    if asks_again(inp, attempt=attempt, catalog=deps.catalog):
        return FallbackOutcome(None, ask_again=True)
    if deps.catalog.region_for_number(inp.to_number) is None or not (inp.digits or inp.from_number):
        return FallbackOutcome(None, ask_again=False)
    spooled = SpooledNumber(caller=inp, attempt=attempt, received_at=now)
    try:
        path = deps.spool.append(inp.call_sid, spooled.to_record())
    except SpoolError as exc:
        # Neither database nor disk. Logs hold no caller's data (README), so the number is
        # lost; the CallSid lets an operator find the caller in Twilio's call log.
        log.error(
            "event=fallback_number_lost call_sid=%s from=%s typed=%s to=%s error=%s",
            inp.call_sid,
            mask_phone(inp.from_number),
            mask_phone(inp.digits),
            mask_phone(inp.to_number),
            type(exc).__name__,
        )
        return FallbackOutcome(None, ask_again=False)
    log.warning("event=fallback_number_spooled call_sid=%s file=%s", inp.call_sid, path.name)
    return FallbackOutcome(None, ask_again=False, is_spooled=True)


def _query_int(name: str, *, default: int) -> int:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else default
