"""Settling a call: what the caller left becomes an SR with its callback and confirmations.

A call is settled when its message is complete, when it ends (status callback), or when the
worker's sweep takes a quiet call as ended. Settling again is safe and is how answers that
arrive later reach the SR: a late field updates it, a late callback number creates the SR and
callback that could not be made before.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from intake.call_input import CallContext
from intake.call_rules import UNSTATED_REASON
from intake.call_steps import MessageKind, StepName
from intake.call_store import CallRecord
from intake.catalog import Catalog
from intake.confirmation_targets import ConfirmationFacts, confirmation_facts
from intake.customers import find_customer
from intake.messages import message_for_call, new_message_values, record_field
from intake.models import Message
from intake.number_policy import Accepted, judge_caller_id
from intake.ports import EscalationRequest
from intake.service_requests import submit_message


def caller_id_of(call: CallRecord, catalog: Catalog) -> str | None:
    """The caller's number when it is one we call back (not withheld, premium-rate, abroad...).

    It is offered as the callback number and taken when the caller leaves none, so it passes
    the same policy as a typed number: a premium-rate caller ID is never offered nor called.
    """
    policy = catalog.number_policy(catalog.region(call.region))
    judged = judge_caller_id(call.from_number, policy)
    return judged.e164 if isinstance(judged, Accepted) else None


def settling_facts(
    reader: Connection,
    call: CallRecord,
    *,
    customer_number: str | None,
    callback_number: str | None,
    caller_id: str | None,
    context: CallContext,
) -> ConfirmationFacts:
    """What settling ``call``'s message will read, read before the write transaction.

    ``customer_number`` and ``callback_number`` are the message's as the write will leave them
    (an empty callback number becomes the caller ID, as in ``settle_message``); ``caller_id`` is
    ``caller_id_of(call)``. The SMS of the last hour are counted here too, so the count may be
    a moment old when the SMS is queued (see ``intake.sms_limits.is_over_sms_limits``).
    """
    catalog = context.catalog
    return confirmation_facts(
        reader,
        customer_number=customer_number,
        callback_number=callback_number if callback_number is not None else caller_id,
        caller_id=caller_id,
        policy=catalog.number_policy(catalog.region(call.region)),
        now=context.now,
        count_sms=True,
    )


def settle_message(
    session: Session,
    call: CallRecord,
    message: Message,
    *,
    context: CallContext,
    facts: ConfirmationFacts | None = None,
) -> CallRecord:
    """Make ``message`` into an SR with its callback when anyone can be reached; the call, settled.

    Idempotent: a message already made into an SR brings its SR up to date. ``facts`` are
    ``settling_facts`` read for this call before the write transaction; any that no longer fit
    the message (``ConfirmationFacts.are_for``) are read again here.
    """
    catalog = context.catalog
    caller_id = facts.caller_id if facts is not None else caller_id_of(call, catalog)
    if message.callback_number is None and caller_id is not None:
        record_field(
            message, now=context.now, callback_number=caller_id, callback_number_source="caller_id"
        )
    if facts is None or not facts.are_for(message, caller_id=caller_id):
        facts = confirmation_facts(
            session,
            customer_number=message.customer_number,
            callback_number=message.callback_number,
            caller_id=caller_id,
            policy=catalog.number_policy(catalog.region(call.region)),
            now=context.now,
            count_sms=False,
        )
    reachable = (
        message.callback_number is not None
        or message.sr_reference is not None
        or message.sr_number is not None
        or bool(facts.email)
    )
    if not reachable:
        return replace(call, is_settled=True, outcome="unreachable")
    first_submission = message.sr_number is None
    submitted = submit_message(
        session,
        message,
        catalog=catalog,
        scheduler=context.scheduler,
        now=context.now,
        caller_id=caller_id,
        facts=facts,
    )
    if message.kind == MessageKind.ESCALATION and first_submission:
        _raise_escalation(session, call, message, submitted.sr_number, context=context)
    outcome = "message" if call.outcome in (None, "unreachable") else call.outcome
    return replace(call, is_settled=True, sr_number=submitted.sr_number, outcome=outcome)


def _raise_escalation(
    session: Session, call: CallRecord, message: Message, sr_number: str, *, context: CallContext
) -> None:
    """The escalation the caller asked for, raised once with the message that carries its call
    back (also when they hung up before giving a number: the caller ID is called back)."""
    state = call.state
    request = EscalationRequest(
        sr_number=sr_number,
        reason=state.escalation_reason or UNSTATED_REASON,
        call_sid=call.call_sid,
        caller_number=call.from_number,
        contact_number=message.callback_number,
        is_us_government=state.is_us_government,
        impact_as_recorded=state.impact_as_recorded,
        urgency_changed=state.urgency_changed,
    )
    context.escalations.raise_escalation(session, request, now=context.now)


def settle_ended_call(
    session: Session,
    call: CallRecord,
    *,
    context: CallContext,
    facts: ConfirmationFacts | None = None,
) -> CallRecord:
    """After the caller hung up (or went quiet for good): settle what they left, once.

    A call settled before brings what was stored since to its SR, and a promise learnt late
    (the hold key, whose webhook the status callback overtook) is kept. ``facts``: as for
    ``settle_message``, read for the call's message before the write transaction.
    """
    message = message_for_call(session, call.call_sid)
    if message is not None:
        if call.is_settled and message.is_submitted:
            return call  # its SR has everything the caller left
        return settle_message(session, call, message, context=context, facts=facts)
    state = call.state
    # Hung up before leaving a message: nothing was promised unless we know who called and they
    # were not in the agent queue (where an agent may have answered: the status callback can
    # arrive before the queue's result, so both orders must end alike), they quoted a request,
    # or they asked to be called back while on hold.
    promised = (
        state.queue_callback
        or state.quoted_sr is not None
        or (call.is_identified and state.step is not StepName.AGENT)
    )
    if call.outcome == "agent" or not promised:
        return replace(call, is_settled=True, outcome=call.outcome or "abandoned")
    message = _message_left_by_hang_up(session, call, context=context)
    return settle_message(session, call, message, context=context)


def _message_left_by_hang_up(
    session: Session, call: CallRecord, *, context: CallContext
) -> Message:
    """The message of a caller who was promised a callback but hung up before leaving one."""
    customer = find_customer(session, call.customer_number) if call.customer_number else None
    region = context.catalog.region(call.region)
    state = call.state
    # A caller who quoted a request and hung up before saying why is called back on it.
    kind = MessageKind.CALLBACK if state.quoted_sr else MessageKind.NEW
    message = Message(
        **new_message_values(
            call,
            kind=kind.value,
            product_line=call.product_line or region.default_product_line,
            company=customer.company if customer is not None else None,
            sr_reference=state.quoted_sr,
            # Asked on hold with the callback key, or else by the promise heard in the call.
            callback_asked_at=state.callback_asked_at or call.last_activity_at,
            now=context.now,
        )
    )
    session.add(message)
    return message
