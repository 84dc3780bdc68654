"""A turn of the caller's flow: one voice webhook applied to its call exactly once.

Every turn takes the same path (``take_turn``), after the edge parsed the request:

1. **read** the call and its message (``CallStore``); a repeated turn replays its stored answer;
2. **look up** the facts the flow may need (customer, quoted SR, support hours, caller ID);
3. **decide** what happens next (``call_flow.decide``, pure);
4. **write** the answered fields, the SR when the message is complete (``settlement``), the
   call (version-checked) and the answer given, in one transaction;

and the edge renders the step as TwiML. ``db.unit_of_work`` runs steps 1-3 on a read and step
4 in a short transaction, or all four locked when the call changed in between.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from db.unit_of_work import Done, Reading, Statements, Write
from intake.call_facts import (
    CallerAnswer,
    CustomerFacts,
    Decision,
    Facts,
    LineFacts,
    MessageFacts,
    RaiseSeverity,
)
from intake.call_flow import after_settling, decide
from intake.call_input import CallContext, CallerInput, TurnResult, UnknownCall, UnknownNumber
from intake.call_steps import FlowState, MessageKind, Say, Step, StepKind, StepName
from intake.call_store import (
    ABANDONED_AFTER,
    AGENT_CALL_LIMIT,
    CallRecord,
    CallStore,
    MessageRecord,
    new_call,
)
from intake.catalog import Catalog, Region
from intake.confirmation_targets import ConfirmationFacts
from intake.customers import find_customer
from intake.escalation_hold import holds_for_duty_manager
from intake.messages import consent_changes, field_changes, new_message_values
from intake.models import Message
from intake.ports import SeverityRaiseRequest
from intake.questions import Asking, question
from intake.service_requests import existing_sr_number
from intake.settlement import caller_id_of, settle_message, settling_facts
from intake.sr_numbers import is_plausible_sr_number
from intake.support_hours import is_open, spoken_duration, spoken_hours, spoken_promise

_GOODBYE = Step(StepName.END, StepKind.HANGUP, (Say("goodbye"),))


def greet(inp: CallerInput, *, context: CallContext) -> TurnResult:
    """The greeting: the same for every call to a number, so it reads and writes nothing.

    The call is stored with its first answer, together with this turn as it was given; a
    caller who hangs up during the greeting leaves a row made by the call's status callback.
    """
    call, greeting = _greeted(inp, context)
    return TurnResult(greeting, 1, call.region, call.language, None, False)


def _greeted(inp: CallerInput, context: CallContext) -> tuple[CallRecord, Step]:
    """The call as the greeting leaves it (not stored yet) and the greeting itself."""
    region = context.catalog.region_for_number(inp.to_number)
    if region is None:
        raise UnknownNumber(inp.to_number)
    started_at = _started_at(inp, context.now)
    call = new_call(
        inp.call_sid,
        region,
        to_number=inp.to_number,
        from_number=inp.from_number,
        started_at=started_at,
    )
    start = FlowState()
    if context.catalog.is_escalation_number(inp.to_number):
        # An escalation-only line (US government): no menu, straight to the SR to escalate.
        start = FlowState(step=StepName.ESCALATION_SR, is_us_government=True)
    greeting = question(start, Asking(country=region.country), Say("welcome"))
    return replace(call, turn=1, flow=start.to_json()), greeting


def _started_at(inp: CallerInput, now: datetime) -> datetime:
    """The greeting's time from the answer's URL if it can be this call's, else ``now``."""
    started = inp.started_at
    # Twilio ends every call after 4 hours: an older or a future time is not this call's.
    if started is None or not now - AGENT_CALL_LIMIT <= started <= now:
        return now
    return started


def take_turn(
    reading: Reading, inp: CallerInput, *, seq: int, context: CallContext
) -> Done[TurnResult] | Write[TurnResult] | Statements[TurnResult]:
    """Turn ``seq`` (1 or later) of the call: replayed if it was taken, else decided.

    Raises ``UnknownCall`` for a later turn of a call never stored.
    """
    store = CallStore.reading(reading)
    stored = store.load(inp.call_sid)
    greeting: Step | None = None
    if stored is None:
        if seq != 1:
            raise UnknownCall(inp.call_sid)
        call, greeting = _greeted(inp, context)
        before, message = None, None
    else:
        call, message = stored.call, stored.message
        before = call
        if seq != call.turn:
            return Done(_replay(store, call, seq))
    facts = _look_up(reading.connection, call, message, inp, context)
    decision = decide(call.state, _answer(inp), facts)
    call = _identified(call, decision)
    settles = _settles(call, message, decision)
    if settles or decision.severity_raise is not None:
        # What settling reads (the e-mail address on file, the numbers judged, the SMS
        # counts) is read now, so the writer lock is held for the writes.
        confirming = None
        if settles:
            confirming = _settling_facts(
                reading.connection, call, message, decision, facts, context
            )

        def write(session: Session) -> TurnResult:
            return _write(
                session,
                before,
                call,
                message,
                decision,
                facts,
                seq=seq,
                greeting=greeting,
                context=context,
                confirming=confirming,
            )

        return write
    # A turn that settles nothing knows its answer now: it is built here, before the write
    # transaction, and written with plain statements, so the writer lock is held only for them.
    ready = _answered(call, message, decision, facts, seq=seq, now=context.now)

    def write_statements(connection: Connection) -> TurnResult:
        store = CallStore(connection)
        _store_message(store, call, message, decision, facts, now=context.now)
        return _finish(store, before, ready, seq=seq, greeting=greeting, now=context.now)

    return Statements(write_statements)


def _answer(inp: CallerInput) -> CallerAnswer:
    return CallerAnswer(
        digits=inp.digits,
        speech=inp.speech,
        confidence=inp.confidence,
        queue_result=inp.agent_result,
        is_silence=inp.is_no_input,
    )


def _replay(store: CallStore, call: CallRecord, seq: int) -> TurnResult:
    """The answer stored for turn ``seq`` (the last one stored for a turn not taken yet)."""
    if call.turn == 0:
        # Stored without a turn (by its status callback after a hang-up in the greeting, or by
        # the fallback): the call is over, and a late answer only hears goodbye.
        return TurnResult(_GOODBYE, seq + 1, call.region, call.language, call.sr_number, True)
    answered = min(seq, call.turn - 1)
    step = store.answered_step(call.call_sid, answered)
    return TurnResult(step, answered + 1, call.region, call.language, call.sr_number, True)


# -- 2. look up ---------------------------------------------------------------------------------


# The steps at which a typed SR number is looked up.
_SR_STEPS = frozenset({StepName.SR_LOOKUP, StepName.ESCALATION_SR})


def _look_up(
    reader: Connection,
    call: CallRecord,
    message: MessageRecord | None,
    inp: CallerInput,
    context: CallContext,
) -> Facts:
    """The facts ``decide`` may need at this step, and no more (each look-up is a query)."""
    catalog = context.catalog
    region = catalog.region(call.region)
    step = call.state.step
    typed = None if inp.is_no_input else (inp.digits or None)
    customer = None
    if step is StepName.CUSTOMER_NUMBER:
        if typed is not None and typed.isdigit():
            customer = find_customer(reader, typed)
    elif call.customer_number is not None and message is None:
        customer = find_customer(reader, call.customer_number)  # the company, for the message
    found_sr = None
    if step in _SR_STEPS and is_plausible_sr_number(typed):
        assert typed is not None
        found_sr = existing_sr_number(reader, typed)
    product_lines = {}
    if customer is not None:
        for product in customer.products:
            line = catalog.product_line_for(product)
            if line is not None:
                product_lines[product] = line.key
    # Routing, the agent step's promise and opening the message need the product lines (the
    # agent step may come late, after the call's end made the message); later turns need none.
    needs_lines = message is None or step is StepName.AGENT
    keys = {region.default_product_line, *product_lines.values()} if needs_lines else set()
    if call.product_line is not None:
        keys.add(call.product_line)
    prompts = catalog.prompts_for(call.language)
    return Facts(
        country=region.country,
        numbers=catalog.number_policy(region),
        default_line=region.default_product_line,
        call_line=call.product_line,
        consent_prompt_version=prompts.version,
        lines={key: _line(catalog, key, region, call.language, context.now) for key in keys},
        caller_id=caller_id_of(call, catalog),
        customer=(
            CustomerFacts(
                customer_number=customer.customer_number,
                company=customer.company,
                has_email=bool(customer.email),
                products=customer.products,
            )
            if customer is not None
            else None
        ),
        product_lines=product_lines,
        found_sr=found_sr,
        message=(
            MessageFacts(
                company=message.company,
                callback_number=message.callback_number,
                recording_consent=message.recording_consent,
            )
            if message is not None
            else None
        ),
        escalation_promise=spoken_duration(catalog.escalation_callback_promise, prompts),
    )


def _line(catalog: Catalog, key: str, region: Region, language: str, now: datetime) -> LineFacts:
    line = catalog.product_line(key)
    prompts = catalog.prompts_for(language)
    open_now = is_open(line, region, now)
    return LineFacts(
        key=line.key,
        name=line.name,
        is_open=open_now,
        hours="" if open_now else spoken_hours(line, prompts),  # spoken only when closed
        promise=spoken_promise(line, prompts),
    )


# -- 4. write -----------------------------------------------------------------------------------


def _write(
    session: Session,
    before: CallRecord | None,
    call: CallRecord,
    message: MessageRecord | None,
    decision: Decision,
    facts: Facts,
    *,
    seq: int,
    greeting: Step | None,
    context: CallContext,
    confirming: ConfirmationFacts | None,
) -> TurnResult:
    """Carry out a ``decision`` that settles the message (makes or updates its SR) or raises
    the SR's severity: message fields, the SR if due, the call, the answer given."""
    store = CallStore(session.connection())
    now = context.now
    message_id = _store_message(store, call, message, decision, facts, now=now)
    holds = False
    if _settles(call, message, decision):
        assert message_id is not None
        row = session.get(Message, message_id)
        assert row is not None
        if decision.finish is not None:
            row.is_complete = decision.finish.is_complete
        # A call settled already (ended before this answer arrived, or taken as ended while the
        # caller went on) brings what it stores now to its SR; a finished message makes the SR.
        call = settle_message(session, call, row, context=context, facts=confirming)
        holds = decision.finish is not None and _holds_for_duty_manager(session, call, row, context)
    ready = _answered(
        call, message, decision, facts, seq=seq, now=now, holds_for_duty_manager=holds
    )
    if decision.severity_raise is not None:
        _raise_severity(session, call, decision.severity_raise, context=context)
    return _finish(store, before, ready, seq=seq, greeting=greeting, now=now)


def _finish(
    store: CallStore,
    before: CallRecord | None,
    ready: tuple[CallRecord, Step],
    *,
    seq: int,
    greeting: Step | None,
    now: datetime,
) -> TurnResult:
    """Store the call as the turn leaves it (version-checked) and the answer given."""
    call, step = ready
    store.save(before, call)
    if greeting is not None:
        store.add_turn(call.call_sid, 0, greeting, at=call.started_at)
    store.add_turn(call.call_sid, seq, step, at=now)
    return TurnResult(step, seq + 1, call.region, call.language, call.sr_number, False)


def _settling_facts(
    reader: Connection,
    call: CallRecord,
    message: MessageRecord | None,
    decision: Decision,
    facts: Facts,
    context: CallContext,
) -> ConfirmationFacts:
    """The facts settling the message will need, for the message as this turn leaves it."""
    answered = decision.fields.get(
        "callback_number", message.callback_number if message is not None else None
    )
    callback_number = answered if isinstance(answered, str) else None
    # A message opened now takes the call's customer (``new_message_values``).
    customer_number = message.customer_number if message is not None else call.customer_number
    return settling_facts(
        reader,
        call,
        customer_number=customer_number,
        callback_number=callback_number,
        caller_id=facts.caller_id,
        context=context,
    )


def _settles(call: CallRecord, message: MessageRecord | None, decision: Decision) -> bool:
    """Whether the turn makes (or updates) the SR: a finished message, or an answer that
    arrived after the call was settled and changes its message."""
    has_message = message is not None or decision.open_message is not None
    late = call.is_settled and has_message and _changes_message(decision)
    return decision.finish is not None or late


def _answered(
    call: CallRecord,
    message: MessageRecord | None,
    decision: Decision,
    facts: Facts,
    *,
    seq: int,
    now: datetime,
    holds_for_duty_manager: bool = False,
) -> tuple[CallRecord, Step]:
    """The call as this turn leaves it, and the step it answers with."""
    if decision.finish is not None:
        state, says = after_settling(
            decision, call.sr_number, holds_for_duty_manager=holds_for_duty_manager
        )
    else:
        state, says = decision.state, decision.says
    has_consent = decision.consent is True or (
        decision.consent is None and message is not None and message.recording_consent is True
    )
    asking = Asking(
        country=facts.country,
        caller_id=facts.caller_id,
        sr_number=call.sr_number,
        has_consent=has_consent,
    )
    step = question(state, asking, *says)
    waits = AGENT_CALL_LIMIT if step.kind is StepKind.AGENT else ABANDONED_AFTER
    answered = replace(
        call,
        flow=state.to_json(),
        turn=seq + 1,
        last_activity_at=now,
        # An agent may talk for hours with no webhook; anything else answers within seconds.
        settle_after=now + waits,
        is_settled=call.is_settled or step.kind is StepKind.HANGUP,
    )
    return answered, step


def _holds_for_duty_manager(
    session: Session, call: CallRecord, message: Message, context: CallContext
) -> bool:
    """Whether the caller holds while the duty managers are rung for the escalation that
    settling ``message`` raised (``intake.escalation_hold``)."""
    hold = context.catalog.escalation_hold
    if message.kind != MessageKind.ESCALATION or hold <= timedelta(0):
        return False
    escalation = context.escalations.escalation_of_call(session, call.call_sid)
    # The call back is queued (its due time set) only when there is a number to call.
    has_call_back = message.callback_due_at is not None
    return holds_for_duty_manager(
        escalation, now=context.now, hold=hold, has_call_back=has_call_back
    )


def _raise_severity(
    session: Session, call: CallRecord, order: RaiseSeverity, *, context: CallContext
) -> None:
    """Record the caller's severity raise (not an escalation) through the escalation desk."""
    request = SeverityRaiseRequest(
        sr_number=order.sr_number,
        reason=order.reason,
        call_sid=call.call_sid,
        caller_number=call.from_number,
        urgency_changed=order.urgency_changed,
    )
    context.escalations.raise_severity(session, request, now=context.now)


def _identified(call: CallRecord, decision: Decision) -> CallRecord:
    changes: dict[str, Any] = {}
    if decision.identified_as is not None:
        changes.update(customer_number=decision.identified_as, is_identified=True)
    if decision.product is not None:
        changes.update(product=decision.product, product_line=decision.product_line)
    if decision.outcome is not None and call.outcome != "unreachable":
        changes.update(outcome=decision.outcome)
    return replace(call, **changes) if changes else call


def _changes_message(decision: Decision) -> bool:
    return (
        bool(decision.fields) or decision.consent is not None or decision.open_message is not None
    )


def _store_message(
    store: CallStore,
    call: CallRecord,
    message: MessageRecord | None,
    decision: Decision,
    facts: Facts,
    *,
    now: datetime,
) -> int | None:
    """Open the message or store the fields answered now; the message's id, if any."""
    changes: dict[str, Any] = {}
    if decision.fields:
        changes.update(field_changes(now=now, **decision.fields))
    if decision.consent is not None:
        version = facts.consent_prompt_version
        changes.update(consent_changes(given=decision.consent, prompt_version=version, now=now))
    opened = decision.open_message
    if message is None and opened is not None:
        values = new_message_values(
            call,
            kind=opened.kind.value,
            product_line=opened.product_line,
            company=opened.company,
            sr_reference=opened.sr_reference,
            callback_asked_at=opened.callback_asked_at or now,
            now=now,
        )
        return store.add_message({**values, **changes})
    if message is None:
        return None
    if changes:
        store.update_message(message.id, changes)
    return message.id
