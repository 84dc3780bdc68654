"""Webhooks of an escalation's conference call: the dialled legs, the events, the dial-in line.

A participant's leg (``/leg?conference=ID&participant=ID``) hears the intro and joins the
conference; its status callback (``/leg/status``) tells how the call ended. The conference's
events (``/events?conference=ID``) record joins, leaves and the end. The dial-in line
(``/dial-in``, the region's ``conference_number``'s voice webhook) asks for the PIN, three
tries, then puts the caller into the open conference with that PIN. Each webhook is parsed
into a report, applied in one transaction (``escalations.conference_calls``) and rendered;
the phone always hears valid TwiML, whatever failed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from flask import Blueprint, Response, request

from config.dependencies import current
from db.transaction import transaction
from escalations.conference_calls import (
    EventReport,
    LegAnswer,
    answer_leg,
    end_leg,
    join_by_pin,
    record_event,
)
from escalations.conference_rules import LegReply, dial_in_reply, is_pin_shaped
from escalations.conferences import CONFERENCE_PATH
from intake.call_input import ADDRESS_LIMIT, CALL_SID_LIMIT, DIGITS_LIMIT
from intake.log_masks import mask_phone
from ivr import call_legs, conference_twiml
from ivr.signature import public_url, twilio_signed

log = logging.getLogger("hotline.ivr")
bp = Blueprint("ivr_conference", __name__, url_prefix=CONFERENCE_PATH)

STATUS_LIMIT = 32
# Webhooks answered with 204 rather than TwiML.
NO_TWIML = ("/leg/status", "/events")
bp.register_error_handler(
    Exception, call_legs.failure_handler(log, "conference_webhook_error", callbacks=NO_TWIML)
)


def _call_sid() -> str:
    return request.form.get("CallSid", "")[:CALL_SID_LIMIT]


def _event_time(value: str | None) -> datetime | None:
    """Twilio's Timestamp (RFC 2822) as a UTC instant; None when missing or unreadable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    # "-0000" means UTC of unknown origin to RFC 2822; Python returns it naive.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@bp.post("/leg")
@twilio_signed
def leg() -> Response:
    """A dialled participant picked up: the intro, then into the conference (or goodbye)."""
    conference_id, participant_id = (
        call_legs.query_int("conference"),
        call_legs.query_int("participant"),
    )
    answer = LegAnswer(LegReply.GONE)
    if conference_id is not None and participant_id is not None:
        deps = current()
        with transaction(deps.session_factory) as session:
            answer = answer_leg(session, conference_id, participant_id, call_sid=_call_sid())
    log.info(
        "event=conference_leg conference=%s participant=%s reply=%s call_sid=%s",
        conference_id,
        participant_id,
        answer.reply.value,
        _call_sid(),
    )
    if answer.region is None:
        return call_legs.xml(conference_twiml.render_gone(region=None, prompts=None))
    catalog = current().catalog
    region = catalog.region(answer.region)
    prompts = catalog.prompts_for(region.language)
    if answer.reply is LegReply.JOIN and answer.target is not None:
        return call_legs.xml(
            conference_twiml.render_join(
                answer.target, region=region, prompts=prompts, base=public_url("")
            )
        )
    return call_legs.xml(conference_twiml.render_gone(region=region, prompts=prompts))


@bp.post("/leg/status")
@twilio_signed
def leg_status() -> Response:
    """A participant's call reported its status; the last one out ends the conference."""
    conference_id, participant_id = (
        call_legs.query_int("conference"),
        call_legs.query_int("participant"),
    )
    call_status = request.form.get("CallStatus", "")[:STATUS_LIMIT]
    closed = False
    if conference_id is not None and participant_id is not None:
        deps = current()
        with transaction(deps.session_factory) as session:
            closed = end_leg(
                session,
                conference_id,
                participant_id,
                call_status=call_status,
                now=deps.clock.now(),
            )
    log.info(
        "event=conference_leg_status conference=%s participant=%s status=%s closed=%s",
        conference_id,
        participant_id,
        call_status,
        closed,
    )
    return Response(status=204)


@bp.post("/events")
@twilio_signed
def events() -> Response:
    """Record a join, a leave or the conference's end, once each."""
    conference_id = call_legs.query_int("conference")
    form = request.form
    report = EventReport(
        event=form.get("StatusCallbackEvent", "")[:STATUS_LIMIT],
        call_sid=_call_sid() or None,
        conference_sid=form.get("ConferenceSid", "")[:CALL_SID_LIMIT] or None,
        at=_event_time(form.get("Timestamp")),
    )
    effect = "nothing"
    if conference_id is not None:
        deps = current()
        with transaction(deps.session_factory) as session:
            effect = record_event(session, conference_id, report, now=deps.clock.now()).value
    log.info(
        "event=conference_event conference=%s what=%s effect=%s call_sid=%s sequence=%s",
        conference_id,
        report.event,
        effect,
        report.call_sid or "-",
        form.get("SequenceNumber", "-")[:10],
    )
    return Response(status=204)


@bp.post("/dial-in")
@twilio_signed
def dial_in() -> Response:
    """The dial-in line: ask for the PIN (again after silence, up to three tries)."""
    return _dial_in(digits=None)


@bp.post("/dial-in/pin")
@twilio_signed
def dial_in_pin() -> Response:
    """The typed PIN: into its open conference, or asked again, or goodbye."""
    return _dial_in(digits=request.form.get("Digits", "")[:DIGITS_LIMIT])


def _dial_in(*, digits: str | None) -> Response:
    deps = current()
    line = request.form.get("To", "")[:ADDRESS_LIMIT]
    region = deps.catalog.region_for_conference_number(line)
    if region is None:
        log.warning("event=conference_dial_in_unknown_line to=%s", mask_phone(line))
        return call_legs.xml(conference_twiml.render_not_in_service())
    tries = call_legs.query_int("try") or 1
    target = None
    if digits is not None and is_pin_shaped(digits):
        with transaction(deps.session_factory) as session:
            target = join_by_pin(
                session,
                line=line,
                pin=digits,
                call_sid=_call_sid(),
                caller=request.form.get("From", "")[:ADDRESS_LIMIT] or None,
                now=deps.clock.now(),
            )
    reply = dial_in_reply(tries=tries, digits=digits, found=target is not None)
    log.info(
        "event=conference_dial_in region=%s try=%s reply=%s conference=%s call_sid=%s",
        region.key,
        tries,
        reply.value,
        "-" if target is None else target.conference_id,
        _call_sid(),
    )
    return call_legs.xml(
        conference_twiml.render_dial_in(
            reply,
            tries=tries,
            region=region,
            prompts=deps.catalog.prompts_for(region.language),
            base=public_url(""),
            target=target,
        )
    )
