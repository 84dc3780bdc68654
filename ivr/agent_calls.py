"""The agent's leg of a callback call: whisper, "press 1", dial the customer, the outcome.

Every webhook names its callback and call (``?callback=ID&call=SEQ``), is parsed into a
``LegReport`` and applied by ``callbacks.calls.report_leg`` in one transaction; then the
answer is rendered. The agent always hears valid TwiML, whatever failed.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from callbacks.calls import (
    AgentAnswered,
    AgentKey,
    AgentLegEnded,
    CustomerAnswered,
    DialEnded,
    LegReport,
    LegResult,
    Reply,
    leg_query,
    report_leg,
)
from config.dependencies import current
from db.transaction import transaction
from intake.call_input import DIGITS_LIMIT
from ivr import agent_twiml, call_legs
from ivr.signature import public_url, twilio_signed

log = logging.getLogger("hotline.ivr")
bp = Blueprint("ivr_agent", __name__, url_prefix="/ivr/agent/callback")

bp.register_error_handler(Exception, call_legs.failure_handler(log, "agent_leg_error"))


def _apply(report: LegReport) -> tuple[LegResult, str]:
    """Apply ``report`` to the call the URL names, in one transaction; the result and query."""
    callback_id, call_seq = call_legs.query_int("callback"), call_legs.query_int("call")
    if callback_id is None or call_seq is None:
        return LegResult(Reply.GONE), ""
    deps = current()
    with transaction(deps.session_factory) as session:
        result = report_leg(
            session, callback_id, call_seq, report, now=deps.clock.now(), catalog=deps.catalog
        )
    log.info(
        "event=agent_leg callback=%s call=%s report=%s reply=%s call_sid=%s",
        callback_id,
        call_seq,
        type(report).__name__,
        result.reply.value,
        call_legs.call_sid(),
    )
    return result, leg_query(callback_id, call_seq)


def _render(result: LegResult, query: str, *, heard_nothing: bool = False) -> Response:
    deps = current()
    region = deps.catalog.region(result.region) if result.region is not None else None
    prompts = deps.catalog.prompts_for(region.language) if region is not None else None
    return call_legs.xml(
        agent_twiml.render_leg(
            result,
            region=region,
            prompts=prompts,
            base=public_url(""),
            query=query,
            ring_seconds=deps.catalog.staff_ring_seconds,
            heard_nothing=heard_nothing,
        )
    )


@bp.post("")
@twilio_signed
def answer() -> Response:
    """The agent picked up (or said nothing): the summary and "press 1 or 2", counted."""
    tries = call_legs.query_int("try") or 1
    result, query = _apply(AgentAnswered(tries=tries))
    return _render(result, query, heard_nothing=True)


@bp.post("/key")
@twilio_signed
def key() -> Response:
    """1 dials the customer, 2 releases the callback; anything else asks again."""
    digits = request.form.get("Digits", "")[:DIGITS_LIMIT]
    result, query = _apply(AgentKey(digits=digits, tries=call_legs.query_int("try") or 1))
    return _render(result, query)


@bp.post("/screen")
@twilio_signed
def screen() -> Response:
    """The customer answered: a person is bridged to the agent, a machine is hung up on."""
    answered_by = request.form.get("AnsweredBy", "unknown")[: call_legs.STATUS_LIMIT] or "unknown"
    result, query = _apply(CustomerAnswered(answered_by=answered_by))
    return _render(result, query)


@bp.post("/dialed")
@twilio_signed
def dialed() -> Response:
    """The Dial to the customer ended: reached (record how it went) or not (retry or close)."""
    dial_status = request.form.get("DialCallStatus", "")[: call_legs.STATUS_LIMIT]
    result, query = _apply(DialEnded(dial_status=dial_status))
    return _render(result, query)


@bp.post("/status")
@twilio_signed
def status() -> Response:
    """The agent's call ended without a key (no answer, busy, hung up): the claim is released."""
    call_status = request.form.get("CallStatus", "")[: call_legs.STATUS_LIMIT]
    _apply(AgentLegEnded(call_status=call_status))
    return Response(status=204)
