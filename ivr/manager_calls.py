"""A duty manager's call of an escalation: the summary, "1 accept, 2 pass on, 3 again".

Every webhook names its escalation and ring (``?escalation=ID&ring=SEQ``), is parsed into a
``RingReport`` and applied by ``escalations.ringing.report_ring`` in one transaction; then the
answer is rendered. The manager always hears valid TwiML, whatever failed.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from config.dependencies import current
from db.transaction import transaction
from escalations.ring_chain import ManagerAnswered, ManagerKey, ManagerLegEnded, Reply, RingReport
from escalations.ringing import MANAGER_LEG_PATH, RingResult, report_ring, ring_query
from intake.call_input import DIGITS_LIMIT
from ivr import call_legs, manager_twiml
from ivr.signature import public_url, twilio_signed

log = logging.getLogger("hotline.ivr")
bp = Blueprint("ivr_manager", __name__, url_prefix=MANAGER_LEG_PATH)

bp.register_error_handler(Exception, call_legs.failure_handler(log, "manager_leg_error"))


def _apply(report: RingReport) -> tuple[RingResult, str]:
    """Apply ``report`` to the ring the URL names, in one transaction; the result and query."""
    escalation_id, seq = call_legs.query_int("escalation"), call_legs.query_int("ring")
    if escalation_id is None or seq is None:
        return RingResult(Reply.GONE), ""
    deps = current()
    with transaction(deps.session_factory) as session:
        result = report_ring(
            session, escalation_id, seq, report, now=deps.clock.now(), catalog=deps.catalog
        )
    log.info(
        "event=manager_leg escalation=%s ring=%s report=%s reply=%s call_sid=%s",
        escalation_id,
        seq,
        type(report).__name__,
        result.reply.value,
        call_legs.call_sid(),
    )
    return result, ring_query(escalation_id, seq)


def _render(result: RingResult, query: str, *, heard_nothing: bool = False) -> Response:
    deps = current()
    region = deps.catalog.region(result.region) if result.region is not None else None
    prompts = deps.catalog.prompts_for(region.language) if region is not None else None
    return call_legs.xml(
        manager_twiml.render_ring(
            result,
            region=region,
            prompts=prompts,
            base=public_url(""),
            query=query,
            heard_nothing=heard_nothing,
        )
    )


@bp.post("")
@twilio_signed
def answer() -> Response:
    """The manager picked up (or said nothing, or a machine did): the summary and the question,
    counted; a machine is hung up on and the next person rung."""
    answered_by = request.form.get("AnsweredBy", "")[: call_legs.STATUS_LIMIT] or None
    result, query = _apply(
        ManagerAnswered(tries=call_legs.query_int("try") or 1, answered_by=answered_by)
    )
    return _render(result, query, heard_nothing=True)


@bp.post("/key")
@twilio_signed
def key() -> Response:
    """1 accepts (first wins), 2 passes on to the next person, 3 repeats; else ask again."""
    digits = request.form.get("Digits", "")[:DIGITS_LIMIT]
    result, query = _apply(ManagerKey(digits=digits, tries=call_legs.query_int("try") or 1))
    return _render(result, query)


@bp.post("/status")
@twilio_signed
def status() -> Response:
    """The call ended (no answer, busy, failed, hung up): an undecided ring moves the chain on."""
    call_status = request.form.get("CallStatus", "")[: call_legs.STATUS_LIMIT]
    _apply(ManagerLegEnded(call_status=call_status))
    return Response(status=204)
