"""Status callbacks: call progress, finished recordings and SMS delivery. All answer 204."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from config.dependencies import current
from db.transaction import transaction
from db.unit_of_work import read_then_write
from intake.call_input import ADDRESS_LIMIT, CALL_SID_LIMIT
from intake.call_status import CallStatusReport, record_call_status
from intake.confirmations import record_sms_status
from intake.messages import attach_recording
from ivr.signature import twilio_signed

log = logging.getLogger("hotline.ivr")
bp = Blueprint("ivr_status", __name__, url_prefix="/ivr/status")


@bp.errorhandler(Exception)
def _any_failure(error: Exception) -> Response:
    """Logged with the CallSid; Twilio records the 500 in its debugger. The sweep settles later."""
    log.exception(
        "event=status_callback_error call_sid=%s path=%s",
        request.form.get("CallSid", "-"),
        request.path,
    )
    return Response("status callback failed\n", status=500, mimetype="text/plain")


def _int(name: str) -> int | None:
    value = request.form.get(name, "")
    return int(value) if value.isdigit() else None


def _query_int(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


@bp.post("")
@twilio_signed
def call_status() -> Response:
    """Record how the call went; a call that ended leaves its partial message as an SR."""
    deps = current()
    form = request.form
    report = CallStatusReport(
        call_sid=form.get("CallSid", "")[:CALL_SID_LIMIT],
        status=form.get("CallStatus", "")[:20],
        duration_seconds=_int("CallDuration"),
        sequence=_int("SequenceNumber"),
        to_number=form.get("To", "")[:ADDRESS_LIMIT],
        from_number=(form.get("From") or "")[:ADDRESS_LIMIT] or None,
    )
    context = deps.call_context(deps.clock.now())
    outcome = read_then_write(
        deps.session_factory, lambda reading: record_call_status(reading, report, context=context)
    )
    log.info(
        "event=call_status call_sid=%s status=%s known=%s sr=%s",
        report.call_sid,
        report.status,
        outcome.known,
        outcome.sr_number or "-",
    )
    return Response(status=204)


@bp.post("/recording")
@twilio_signed
def recording_status() -> Response:
    """Link a completed recording (made only after consent) to the call's message."""
    deps = current()
    call_sid = request.form.get("CallSid", "")
    recording_sid = request.form.get("RecordingSid", "")
    if request.form.get("RecordingStatus", "completed") != "completed" or not recording_sid:
        return Response(status=204)
    with transaction(deps.session_factory) as session:
        linked = attach_recording(
            session,
            call_sid=call_sid,
            recording_sid=recording_sid,
            recording_url=request.form.get("RecordingUrl", ""),
            now=deps.clock.now(),
        )
    log.info("event=recording call_sid=%s recording=%s linked=%s", call_sid, recording_sid, linked)
    return Response(status=204)


@bp.post("/sms")
@twilio_signed
def sms_status() -> Response:
    """Record the delivery status of a confirmation SMS."""
    deps = current()
    message_sid = request.form.get("MessageSid", "")
    status = request.form.get("MessageStatus", "")
    with transaction(deps.session_factory) as session:
        known = record_sms_status(
            session,
            message_sid=message_sid,
            status=status,
            error_code=request.form.get("ErrorCode"),
            now=deps.clock.now(),
            confirmation_id=_query_int("confirmation"),
        )
    log.info("event=sms_status message_sid=%s status=%s known=%s", message_sid, status, known)
    return Response(status=204)
