"""Calls by CallSid: each webhook turn applied once, its answer stored and replayed if repeated.

The caller's journey (seed and product brief): menu → customer number → support hours → an agent,
or else a message field by field → SR created and read back. ``call_flow`` decides; this
module looks up the facts, stores every answer the moment it arrives, and keeps turns idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import Executable, Select, bindparam, insert, inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, make_transient_to_detached

from db.base import Base, insert_if_absent, table_of
from db.transaction import NeedsLock, Planned, Write
from intake import call_flow as flow
from intake.call_flow import (
    Answer,
    FieldContext,
    FlowState,
    GiveUp,
    MessageKind,
    Retry,
    Say,
    SilenceEnd,
    Step,
    StepKind,
    StepName,
)
from intake.catalog import Catalog, ProductLine, Region
from intake.customers import CustomerView, find_customer
from intake.messages import (
    message_for_call,
    new_message,
    record_consent,
    record_field,
)
from intake.models import Call, CallTurn, Message
from intake.phone_numbers import normalize_e164, parse_callback_number, spoken_digits
from intake.ports import CallbackScheduler
from intake.service_requests import find_service_request, submit_message
from intake.support_hours import is_open, spoken_hours, spoken_promise

# Twilio's terminal call statuses: nothing changes a call after one of these.
TERMINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
_STATUS_ORDER = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3}
# Without a status callback, a call quiet this long is taken as ended. The longest quiet spell
# of a live call is the description: a prompt and up to 60 s of speech. The worker's sweep runs
# every 15 s, so a call that ended without its status callback is settled within 2 minutes.
# A live call settled early keeps its SR: later answers are copied onto it (and its callback)
# when the call finishes, ends, or is submitted again.
ABANDONED_AFTER = timedelta(seconds=90)
# A caller may talk to an agent for a long time with no webhook at all; Twilio ends any call
# after 4 hours, so only then is such a call settled without its status callback.
AGENT_CALL_LIMIT = timedelta(hours=4)


class UnknownNumber(Exception):
    """The dialled number belongs to no configured region."""


class UnknownCall(Exception):
    """A follow-up webhook for a call we never saw start."""


@dataclass(frozen=True)
class CallerInput:
    """What one webhook carried, already parsed by the edge."""

    call_sid: str
    to_number: str
    from_number: str | None = None
    digits: str | None = None
    speech: str | None = None
    confidence: float | None = None
    agent_result: str | None = None
    is_no_input: bool = False
    # When the greeting was answered (carried from the first webhook in the answer's URL); the
    # call is stored from its first answer on, with this as its start.
    started_at: datetime | None = None


@dataclass(frozen=True)
class TurnResult:
    """The step to render, the turn number its answer must carry, and the call's region."""

    step: Step
    seq: int
    region: str
    language: str
    sr_number: str | None
    is_replay: bool


@dataclass(frozen=True)
class TurnContext:
    """The collaborators one turn needs."""

    catalog: Catalog
    scheduler: CallbackScheduler
    now: datetime


def handle_turn(
    session: Session, inp: CallerInput, *, seq: int, context: TurnContext
) -> TurnResult:
    """Apply one webhook to its call exactly once and return what the caller hears next."""
    # Read as plain rows, locked on PostgreSQL (concurrent duplicates of one call queue, other
    # calls do not) and on SQLite by the transaction itself (one writer at a time).
    loaded = _load_call_and_message(session.connection(), inp.call_sid, lock=True)
    if loaded is None:
        # The call's first answer stores it (a copy racing us collides on the key, and the
        # edge replays).
        return _write_now(session, _decide_new_call(session, session, inp, seq, context))
    call, message = loaded
    if seq != call.turn:
        # A retried or out-of-order webhook: answer exactly as before, change nothing.
        # (Turn ``call.turn`` is the only one not stored yet, so only it can be applied.)
        return _replay(session, call, seq)
    # The turn is decided as ``plan_turn`` decides it, with the session for what writes as it
    # goes (the SR, its callback and confirmations); the call, its message and the turn are
    # then written with the same statements, here and now.
    return _write_now(
        session, _decide(session, session, call, message, inp, seq=seq, context=context)
    )


def _write_now(session: Session, planned: Planned[TurnResult]) -> TurnResult:
    """Write a turn decided under the lock: nobody can have changed the call since it was read."""
    connection = session.connection()
    for write in planned.writes:
        done = connection.execute(write.statement, write.params)
        if write.guarded and done.rowcount != 1:
            raise RuntimeError(f"call changed under its lock: {write.params.get('b_call_sid')}")
    return planned.result


# -- turns decided on a snapshot ----------------------------------------------------------------
#
# Most turns read the call and its message, decide, and write a few columns. Deciding them in
# the write transaction would hold SQLite's single write lock (or a PostgreSQL row lock) while
# Python works, so they are planned from a read and written in a short transaction that checks
# the call's version: a call changed meanwhile (a duplicate webhook, a status callback) makes
# the write refuse, and the edge applies the turn with ``handle_turn`` under the lock.
# The reads and writes are plain statements on the tables; the call and message are detached
# model instances, so the flow code is the same as under ``handle_turn``.


def first_turn(inp: CallerInput, *, context: TurnContext) -> TurnResult:
    """The greeting: the same for every call to a number, so it reads and writes nothing.

    A call is stored with its first answer (turn 1), together with this turn as it was given.
    A caller who hangs up during the greeting leaves a row made by the call's status callback.
    """
    return _greeted(inp, context)[2]


def _greeted(inp: CallerInput, context: TurnContext) -> tuple[Call, Step, TurnResult]:
    """The call as the greeting leaves it (not stored), the greeting, and its result."""
    region = context.catalog.region_for_number(inp.to_number)
    if region is None:
        raise UnknownNumber(inp.to_number)
    started = _started_at(inp, context.now)
    state = FlowState(step=StepName.MENU)
    call = _call_row(inp, region, now=started)
    step = _ask(state, call, None, context.catalog, intro=(Say("welcome"),))
    result = _advance(call, 0, state, step, started)
    return call, step, result


def _started_at(inp: CallerInput, now: datetime) -> datetime:
    """The greeting's time from the answer's URL if it can be this call's, else ``now``."""
    started = inp.started_at
    # Twilio ends every call after 4 hours: an older or a future time is not this call's.
    if started is None or not now - AGENT_CALL_LIMIT <= started <= now:
        return now
    return started


def _decide_new_call(
    reader: Session | Connection,
    session: Session | None,
    inp: CallerInput,
    seq: int,
    context: TurnContext,
) -> Planned[TurnResult]:
    """The first answer of a call not stored yet: the call, its greeting turn and this turn."""
    if seq != 1:
        raise UnknownCall(inp.call_sid)
    call, greeting, _ = _greeted(inp, context)
    planned = _decide(reader, session, call, None, inp, seq=seq, context=context, is_new=True)
    greeting_write = _turn_write(call, 0, greeting, call.started_at)
    insert_call, *rest = planned.writes  # the turns refer to the call: it goes first
    return Planned(planned.result, (insert_call, greeting_write, *rest))


def plan_turn(
    reader: Connection, inp: CallerInput, *, seq: int, context: TurnContext
) -> Planned[TurnResult] | TurnResult:
    """Decide turn ``seq`` (1 or later) from a read; a repeated turn is answered as before.

    ``reader`` is only read. Raises ``UnknownCall``, and ``NeedsLock`` for the turn that
    creates the SR.
    """
    loaded = _load_call_and_message(reader, inp.call_sid)
    if loaded is None:
        return _decide_new_call(reader, None, inp, seq, context)
    call, message = loaded
    if seq != call.turn:
        return _replay(reader, call, seq)
    return _decide(reader, None, call, message, inp, seq=seq, context=context)


def _decide(
    reader: Session | Connection,
    session: Session | None,
    call: Call,
    message: Message | None,
    inp: CallerInput,
    *,
    seq: int,
    context: TurnContext,
    is_new: bool = False,
) -> Planned[TurnResult]:
    """Apply the input to the detached call and message; the statements that store the turn.

    ``is_new``: the call is not stored yet and is inserted as the turn leaves it.
    """
    version = call.version
    turn = _Turn(reader, session, call, inp, context, message=message)
    new_state, step = turn.apply(FlowState.from_json(call.flow))
    result = _advance(call, seq, new_state, step, context.now)
    store_call = (
        Write(_statements().insert_call, _all_columns(call))
        if is_new
        else _call_update(call, version)
    )
    writes = [store_call, _turn_write(call, seq, step, context.now)]
    message = turn.message
    if message is not None:
        writes.extend(_message_writes(message))
    return Planned(result, tuple(writes))


def _message_writes(message: Message) -> list[Write]:
    state = inspect(message)
    if state.pending or state.persistent:
        return []  # opened in the session (the turn that made the SR): written at its flush
    if state.transient:
        return [Write(_statements().insert_message, _all_columns(message))]
    changed = _changed_columns(message)
    return [Write(_statements().update_message, {**changed, "b_id": message.id})] if changed else []


@dataclass(frozen=True)
class _Statements:
    insert_call: Executable
    update_call: Executable  # guarded by the version read (b_call_sid, b_version)
    insert_turn: Executable
    insert_message: Executable
    update_message: Executable  # b_id
    call_and_message: Select[Any]
    call_and_message_locked: Select[Any]  # FOR UPDATE OF calls (PostgreSQL; SQLite has none)
    stored_turn: Select[Any]  # call_sid, seq
    call_region: Select[Any]  # call_sid
    call_flow_locked: Select[Any]  # call_sid
    update_flow: Executable  # b_call_sid; raises the version


@cache
def _statements() -> _Statements:
    """The turn's statements, built once: the columns to set come with the parameters."""
    calls, turns, messages = table_of(Call), table_of(CallTurn), table_of(Message)
    call_and_message = (
        select(*calls.c, *(c.label(f"message_{c.key}") for c in messages.c))
        .select_from(calls.outerjoin(messages, messages.c.call_sid == calls.c.call_sid))
        .where(calls.c.call_sid == bindparam("call_sid"))
    )
    return _Statements(
        insert_call=insert(calls),
        update_call=update(calls).where(
            calls.c.call_sid == bindparam("b_call_sid"), calls.c.version == bindparam("b_version")
        ),
        insert_turn=insert(turns),
        insert_message=insert(messages),
        update_message=update(messages).where(messages.c.id == bindparam("b_id")),
        call_and_message=call_and_message,
        call_and_message_locked=call_and_message.with_for_update(of=calls),
        stored_turn=select(turns.c.seq, turns.c.step).where(
            turns.c.call_sid == bindparam("call_sid"), turns.c.seq == bindparam("seq")
        ),
        call_region=select(calls.c.region, calls.c.language).where(
            calls.c.call_sid == bindparam("call_sid")
        ),
        call_flow_locked=select(calls.c.flow)
        .where(calls.c.call_sid == bindparam("call_sid"))
        .with_for_update(),
        update_flow=update(calls)
        .where(calls.c.call_sid == bindparam("b_call_sid"))
        .values(version=calls.c.version + 1),
    )


def _call_update(call: Call, version: int) -> Write:
    """The detached call's changes, written only if it is still at ``version``."""
    values = {**_changed_columns(call), "version": version + 1}
    values.update(b_call_sid=call.call_sid, b_version=version)
    return Write(_statements().update_call, values, guarded=True)


def _turn_write(call: Call, seq: int, step: Step, now: datetime) -> Write:
    values = {"call_sid": call.call_sid, "seq": seq, "step": step.to_json(), "created_at": now}
    return Write(_statements().insert_turn, values)


M = TypeVar("M", bound=Base)


def _all_columns(instance: Base) -> dict[str, Any]:
    state = inspect(instance)
    return {a.key: state.dict[a.key] for a in state.mapper.column_attrs if a.key in state.dict}


def _changed_columns(instance: Base) -> dict[str, Any]:
    state = inspect(instance)
    columns = state.mapper.column_attrs
    return {key: state.dict[key] for key in state.committed_state if key in columns}


def _detached(model: type[M], values: dict[str, Any]) -> M:
    """An instance of ``model`` as if loaded with ``values``: only later changes count."""
    instance = cast(M, inspect(model).class_manager.new_instance())
    instance.__dict__.update(values)  # the state's dict, as the ORM's own loading fills it
    make_transient_to_detached(instance)
    return instance


def _load_call_and_message(
    reader: Connection, call_sid: str, *, lock: bool = False
) -> tuple[Call, Message | None] | None:
    statements = _statements()
    query = statements.call_and_message_locked if lock else statements.call_and_message
    row = reader.execute(query, {"call_sid": call_sid}).mappings().first()
    if row is None:
        return None
    call = _detached(Call, {c.key: row[c.key] for c in table_of(Call).c})
    if row["message_id"] is None:
        return call, None
    values = {c.key: row[f"message_{c.key}"] for c in table_of(Message).c}
    return call, _detached(Message, values)


def _caller_id(call: Call, region: Region) -> str | None:
    """The caller's number when it is a real, dialable one (not withheld or "anonymous")."""
    return normalize_e164(call.from_number, country=region.country)


def _locked_call(session: Session, call_sid: str) -> Call | None:
    stmt = select(Call).where(Call.call_sid == call_sid)
    if session.get_bind().dialect.name == "postgresql":
        # Serialise concurrent duplicates of one call; other calls are not blocked.
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def _call_row(inp: CallerInput, region: Region, *, now: datetime) -> Call:
    return Call(
        call_sid=inp.call_sid,
        region=region.key,
        language=region.language,
        from_number=inp.from_number,
        to_number=inp.to_number,
        started_at=now,
        last_activity_at=now,
        settle_after=now + ABANDONED_AFTER,
        status="in-progress",
        status_sequence=-1,
        flow={},
        turn=0,
    )


def _advance(call: Call, seq: int, state: FlowState, step: Step, now: datetime) -> TurnResult:
    """Move the call past turn ``seq``, which answered ``step``."""
    call.flow = state.to_json()
    call.turn = seq + 1
    call.last_activity_at = now
    # An agent may talk for hours with no webhook at all; anything else answers within seconds.
    call.settle_after = now + (AGENT_CALL_LIMIT if step.kind is StepKind.AGENT else ABANDONED_AFTER)
    if step.kind is StepKind.HANGUP:
        call.is_settled = True
    return TurnResult(step, seq + 1, call.region, call.language, call.sr_number, False)


def _replay(reader: Session | Connection, call: Call, seq: int) -> TurnResult:
    """The answer stored for turn ``seq`` (the last stored one for a turn not taken yet)."""
    if call.turn == 0:
        # Stored without a turn (by its status callback after a hang-up in the greeting, or by
        # the fallback): the call is over, and a late answer only hears goodbye.
        goodbye = Step(StepName.END, StepKind.HANGUP, (Say("goodbye"),))
        return TurnResult(goodbye, seq + 1, call.region, call.language, call.sr_number, True)
    stored = reader.execute(
        _statements().stored_turn, {"call_sid": call.call_sid, "seq": min(seq, call.turn - 1)}
    ).one()
    return TurnResult(
        Step.from_json(stored.step),
        stored.seq + 1,
        call.region,
        call.language,
        call.sr_number,
        True,
    )


def _ask(
    state: FlowState,
    call: Call,
    message: Message | None,
    catalog: Catalog,
    *,
    intro: tuple[Say, ...] = (),
) -> Step:
    """The question for ``state.step``, preceded by ``intro``."""
    name = state.step
    region = catalog.region(call.region)
    if name is StepName.MENU:
        return Step(name, StepKind.DIGITS, (*intro, Say("menu")), num_digits=1)
    if name is StepName.CUSTOMER_NUMBER:
        return Step(name, StepKind.DIGITS, (*intro, Say("ask_customer_number")))
    if name is StepName.PRODUCT_CHOICE:
        products = state.products
        options = tuple(
            Say("product_option", values={"product": p, "key": str(i)})
            for i, p in enumerate(products, start=1)
        )
        return Step(name, StepKind.DIGITS, (*intro, Say("product_intro"), *options), num_digits=1)
    if name is StepName.SR_LOOKUP:
        return Step(name, StepKind.DIGITS, (*intro, Say("ask_sr_number")))
    if name is StepName.SR_ACTION:
        return Step(name, StepKind.DIGITS, (*intro, Say("sr_action")), num_digits=1)
    if name is StepName.AGENT:
        return Step(name, StepKind.AGENT, (*intro, Say("connecting_agent")))
    if name is StepName.NAME:
        return Step(name, StepKind.SPEECH, (*intro, Say("ask_name")))
    if name is StepName.COMPANY:
        return Step(name, StepKind.SPEECH, (*intro, Say("ask_company")))
    if name is StepName.CALLBACK_NUMBER:
        caller_id = _caller_id(call, region)
        if caller_id is not None:
            ask = Say(
                "callback_offer",
                digits={"number": spoken_digits(caller_id, country=region.country)},
            )
        else:
            ask = Say("callback_ask")
        return Step(name, StepKind.DIGITS, (*intro, ask))
    if name is StepName.SR_REFERENCE:
        return Step(name, StepKind.DIGITS, (*intro, Say("ask_sr_reference")), submit_empty=True)
    if name is StepName.CONSENT:
        return Step(name, StepKind.DIGITS, (*intro, Say("consent_ask")), num_digits=1)
    if name is StepName.DESCRIPTION:
        consented = message is not None and message.recording_consent is True
        return Step(
            name,
            StepKind.SPEECH,
            (*intro, Say("ask_description")),
            start_recording=consented and state.attempt == 1,
            long_speech=True,
        )
    if name is StepName.ANSWER_CHANNEL:
        return Step(name, StepKind.DIGITS, (*intro, Say("ask_answer_channel")), num_digits=1)
    if name is StepName.READBACK:
        assert call.sr_number is not None
        number = {"sr_number": call.sr_number}
        return Step(
            name,
            StepKind.DIGITS,
            (
                *intro,
                Say("sr_number", digits=number),
                Say("sr_number_again", digits=number),
                Say("readback_menu"),
            ),
            num_digits=1,
        )
    return Step(StepName.END, StepKind.HANGUP, (*intro, Say("goodbye")))


GiveUpHandler = Callable[[FlowState], tuple[FlowState, Step]]


class _Turn:
    """Applies one caller input to a call (one instance per webhook)."""

    def __init__(
        self,
        reader: Session | Connection,
        session: Session | None,
        call: Call,
        inp: CallerInput,
        context: TurnContext,
        *,
        message: Message | None,
    ):
        self.reader = reader
        # None when the turn is only planned (``plan_turn``): call and message are detached
        # and written afterwards, and a step that needs the session (the SR) needs the lock.
        self._session = session
        self.call = call
        self.inp = inp
        self.catalog = context.catalog
        self.scheduler = context.scheduler
        self.now = context.now
        self.region: Region = context.catalog.region(call.region)
        self._message: Message | None = message
        self._customer: CustomerView | None = None

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        if self._session is None:
            raise NeedsLock()
        return self._session

    @property
    def message(self) -> Message | None:
        # Loaded with the call; self.open_message() fills it in when the message starts.
        return self._message

    def customer(self) -> CustomerView | None:
        number = self.call.customer_number
        if number is None:
            return None
        if self._customer is None or self._customer.customer_number != number:
            self._customer = find_customer(self.reader, number)
        return self._customer

    def ask(self, state: FlowState, *intro: Say) -> tuple[FlowState, Step]:
        # Only the description step depends on the message (recording consent).
        message = self.message if state.step is StepName.DESCRIPTION else None
        return state, _ask(state, self.call, message, self.catalog, intro=intro)

    def unusable(
        self, state: FlowState, answer: Answer, give_up: GiveUpHandler, *extra: Say
    ) -> tuple[FlowState, Step]:
        decision = flow.after_unusable_input(state, answer)
        if isinstance(decision, Retry):
            # A specific hint ("unknown customer number") replaces the generic one.
            return self.ask(decision.state, *(extra or decision.says))
        if isinstance(decision, SilenceEnd):
            return self.offer_callback_after_silence(decision.state)
        assert isinstance(decision, GiveUp)
        return give_up(decision.state)

    def answer_kind(self, value: str | None) -> Answer:
        if self.inp.is_no_input or not value:
            return Answer.NONE
        return Answer.INVALID

    # -- the turn ---------------------------------------------------------------------------

    def apply(self, state: FlowState) -> tuple[FlowState, Step]:
        handler = {
            StepName.MENU: self.on_menu,
            StepName.CUSTOMER_NUMBER: self.on_customer_number,
            StepName.PRODUCT_CHOICE: self.on_product_choice,
            StepName.AGENT: self.on_agent,
            StepName.SR_LOOKUP: self.on_sr_lookup,
            StepName.SR_ACTION: self.on_sr_action,
            StepName.NAME: self.on_name,
            StepName.COMPANY: self.on_company,
            StepName.CALLBACK_NUMBER: self.on_callback_number,
            StepName.SR_REFERENCE: self.on_sr_reference,
            StepName.CONSENT: self.on_consent,
            StepName.DESCRIPTION: self.on_description,
            StepName.ANSWER_CHANNEL: self.on_answer_channel,
            StepName.READBACK: self.on_readback,
        }.get(state.step)
        if handler is None:
            return state, Step(StepName.END, StepKind.HANGUP, (Say("goodbye"),))
        if self._session is None:
            return handler(state)
        # Nothing this turn reads depends on its own pending writes (the message is cached),
        # so they are flushed once at commit rather than before every query.
        with self._session.no_autoflush:
            return handler(state)

    def on_menu(self, state: FlowState) -> tuple[FlowState, Step]:
        choice = None if self.inp.is_no_input else flow.menu_choice(self.inp.digits)
        if choice is None:
            return self.unusable(
                state,
                self.answer_kind(self.inp.digits),
                lambda s: self.ask(flow.moved_to(s, StepName.CUSTOMER_NUMBER)),
            )
        return self.ask(flow.after_valid_input(state, choice))

    def on_customer_number(self, state: FlowState) -> tuple[FlowState, Step]:
        digits = None if self.inp.is_no_input else (self.inp.digits or None)
        customer = find_customer(self.reader, digits) if digits and digits.isdigit() else None
        self._customer = customer
        if customer is None:
            extra = (Say("customer_unknown"),) if digits else ()
            return self.unusable(
                state,
                self.answer_kind(digits),
                lambda s: self.route(s, Say("continue_unidentified")),
                *extra,
            )
        self.call.customer_number = customer.customer_number
        self.call.is_identified = True
        state = replace(
            flow.after_valid_input(state, StepName.PRODUCT_CHOICE),
            email_on_file=bool(customer.email),
        )
        products = customer.products
        if len(products) > 1:
            return self.ask(replace(state, products=products))
        if products:
            self.choose_product(products[0])
        return self.route(state)

    def on_product_choice(self, state: FlowState) -> tuple[FlowState, Step]:
        product = (
            None if self.inp.is_no_input else flow.product_choice(self.inp.digits, state.products)
        )
        if product is None:

            def first_product(s: FlowState) -> tuple[FlowState, Step]:
                self.choose_product(s.products[0])
                return self.route(s)

            return self.unusable(state, self.answer_kind(self.inp.digits), first_product)
        self.choose_product(product)
        return self.route(flow.after_valid_input(state, StepName.AGENT))

    def choose_product(self, product: str) -> None:
        line = self.catalog.product_line_for(product)
        self.call.product = product
        self.call.product_line = line.key if line is not None else None

    def product_line(self) -> ProductLine:
        key = self.call.product_line or self.region.default_product_line
        return self.catalog.product_line(key)

    def route(self, state: FlowState, *intro: Say) -> tuple[FlowState, Step]:
        """Open lines try an agent; closed lines go straight to the message."""
        line = self.product_line()
        if is_open(line, self.region, self.now):
            return self.ask(flow.moved_to(state, StepName.AGENT), *intro)
        prompts = self.catalog.prompts_for(self.call.language)
        hours = Say(
            "closed",
            values={
                "product": line.name,
                "hours": spoken_hours(line, prompts),
                "promise": spoken_promise(line, prompts),
            },
        )
        return self.start_message(state, MessageKind.NEW, *intro, hours)

    def on_agent(self, state: FlowState) -> tuple[FlowState, Step]:
        outcome = flow.agent_outcome(self.inp.agent_result)
        if outcome is flow.AgentOutcome.TALKED:
            self.call.outcome = "agent"
            return flow.moved_to(state, StepName.END), Step(StepName.END, StepKind.HANGUP, ())
        if outcome is flow.AgentOutcome.CALLER_HUNG_UP:
            self.call.outcome = "abandoned"
            return flow.moved_to(state, StepName.END), Step(StepName.END, StepKind.HANGUP, ())
        if state.queue_callback:
            intro = Say("callback_keeps_place")
        else:
            prompts = self.catalog.prompts_for(self.call.language)
            promise = spoken_promise(self.product_line(), prompts)
            intro = Say("agents_busy", values={"promise": promise})
        return self.start_message(state, MessageKind.NEW, intro)

    def on_sr_lookup(self, state: FlowState) -> tuple[FlowState, Step]:
        digits = None if self.inp.is_no_input else (self.inp.digits or None)
        sr = None
        if flow.is_plausible_sr_number(digits):
            assert digits is not None
            sr = find_service_request(self.session, digits)
        if sr is None or sr.number is None:
            hint = Say("sr_not_found") if flow.is_plausible_sr_number(digits) else Say("sr_invalid")
            return self.unusable(
                state,
                self.answer_kind(digits),
                lambda s: self.ask(
                    flow.moved_to(s, StepName.CUSTOMER_NUMBER), Say("sr_lookup_gave_up")
                ),
                *((hint,) if digits else ()),
            )
        self.call.customer_number = sr.customer_number
        self.call.is_identified = sr.is_identified
        self.call.product = sr.product
        self.call.product_line = sr.product_line
        customer = self.customer()
        state = replace(
            flow.after_valid_input(state, StepName.SR_ACTION),
            quoted_sr=sr.number,
            email_on_file=customer is not None and bool(customer.email),
        )
        return self.ask(state, Say("sr_found", digits={"sr_number": sr.number}))

    def on_sr_action(self, state: FlowState) -> tuple[FlowState, Step]:
        kind = None if self.inp.is_no_input else flow.sr_action_choice(self.inp.digits)
        if kind is None:
            return self.unusable(
                state,
                self.answer_kind(self.inp.digits),
                lambda s: self.start_message(s, MessageKind.CALLBACK),
            )
        return self.start_message(flow.after_valid_input(state, StepName.NAME), kind)

    # -- the message ------------------------------------------------------------------------

    def open_message(self, state: FlowState, kind: MessageKind) -> Message:
        """The call's message, opened with what is already known (company, quoted SR)."""
        customer = self.customer()
        self.call.outcome = "message"
        if self.message is None:
            message = new_message(
                self.call,
                kind=kind.value,
                product_line=self.product_line().key,
                company=customer.company if customer is not None else None,
                sr_reference=state.quoted_sr,
                now=self.now,
            )
            if self._session is not None:
                self._session.add(message)  # under the lock: written with the call at commit
            self._message = message
        assert self.message is not None
        return self.message

    def start_message(
        self, state: FlowState, kind: MessageKind, *intro: Say
    ) -> tuple[FlowState, Step]:
        self.open_message(state, kind)
        return self.next_field(replace(state, kind=kind), None, *intro)

    def field_context(self, state: FlowState) -> FieldContext:
        message = self.message
        return FieldContext(
            kind=state.kind,
            company_known=message is not None and bool(message.company),
            email_known=state.email_on_file,
        )

    def next_field(
        self, state: FlowState, after: StepName | None, *intro: Say, valid: bool = True
    ) -> tuple[FlowState, Step]:
        following = flow.next_message_field(after, self.field_context(state))
        if following is None:
            return self.finish(state, *intro)
        moved = (
            flow.after_valid_input(state, following) if valid else flow.moved_to(state, following)
        )
        return self.ask(moved, *intro)

    def store(self, **fields: str | float | bool | None) -> Message:
        message = self.message
        assert message is not None
        record_field(message, now=self.now, **fields)
        return message

    def speech_field(self, state: FlowState, field_name: str) -> tuple[FlowState, Step]:
        text = None if self.inp.is_no_input else (self.inp.speech or "").strip() or None
        if text is None:
            return self.unusable(
                state, Answer.NONE, lambda s: self.next_field(s, state.step, valid=False)
            )
        self.store(**{field_name: text})
        return self.next_field(state, state.step)

    def on_name(self, state: FlowState) -> tuple[FlowState, Step]:
        return self.speech_field(state, "contact_name")

    def on_company(self, state: FlowState) -> tuple[FlowState, Step]:
        return self.speech_field(state, "company")

    def caller_id(self) -> str | None:
        return _caller_id(self.call, self.region)

    def on_callback_number(self, state: FlowState) -> tuple[FlowState, Step]:
        digits = None if self.inp.is_no_input else (self.inp.digits or None)
        caller_id = self.caller_id()
        if digits == "1" and caller_id is not None:
            self.store(callback_number=caller_id, callback_number_source="caller_id")
            return self.next_field(state, StepName.CALLBACK_NUMBER)
        typed = parse_callback_number(digits, country=self.region.country)
        if typed is None:

            def fall_back(s: FlowState) -> tuple[FlowState, Step]:
                message = self.message
                if caller_id is not None and message is not None and not message.callback_number:
                    self.store(callback_number=caller_id, callback_number_source="caller_id")
                if s.silence_offer:
                    return self.finish(s)
                return self.next_field(s, StepName.CALLBACK_NUMBER, valid=False)

            extra = (Say("callback_invalid"),) if digits else ()
            return self.unusable(state, self.answer_kind(digits), fall_back, *extra)
        self.store(callback_number=typed, callback_number_source="typed")
        spoken = spoken_digits(typed, country=self.region.country)
        return self.next_field(
            state, StepName.CALLBACK_NUMBER, Say("callback_confirmed", digits={"number": spoken})
        )

    def offer_callback_after_silence(self, state: FlowState) -> tuple[FlowState, Step]:
        """Two silent steps: offer a callback on the caller ID, then end within the minute."""
        message = self.message or self.open_message(state, state.kind)
        if message.callback_number:
            # The caller already said where to call them back: end now, keeping that number.
            return self.finish(state, Say("silence_offer"))
        state = replace(state, step=StepName.CALLBACK_NUMBER, attempt=1)
        return self.ask(state, Say("silence_offer"))

    def on_sr_reference(self, state: FlowState) -> tuple[FlowState, Step]:
        digits = None if self.inp.is_no_input else (self.inp.digits or "").strip("#*") or None
        if digits is None:
            # The hash key alone (or silence) means "no earlier request".
            return self.next_field(state, StepName.SR_REFERENCE)
        if not flow.is_plausible_sr_number(digits):
            return self.unusable(
                state,
                Answer.INVALID,
                lambda s: self.next_field(s, StepName.SR_REFERENCE, valid=False),
                Say("sr_invalid"),
            )
        self.store(sr_reference=digits)
        return self.next_field(state, StepName.SR_REFERENCE)

    def on_consent(self, state: FlowState) -> tuple[FlowState, Step]:
        given = None if self.inp.is_no_input else flow.yes_no(self.inp.digits)
        version = self.catalog.prompts_for(self.call.language).version
        message = self.message
        assert message is not None
        if given is None:

            def declined(s: FlowState) -> tuple[FlowState, Step]:
                # No answer is no consent: audio is never recorded without an active yes.
                record_consent(message, given=False, prompt_version=version, now=self.now)
                return self.next_field(s, StepName.CONSENT, valid=False)

            return self.unusable(state, self.answer_kind(self.inp.digits), declined)
        record_consent(message, given=given, prompt_version=version, now=self.now)
        intro = Say("consent_given") if given else Say("consent_declined")
        return self.next_field(state, StepName.CONSENT, intro)

    def on_description(self, state: FlowState) -> tuple[FlowState, Step]:
        text = None if self.inp.is_no_input else (self.inp.speech or "").strip() or None
        if text is None:
            return self.unusable(
                state, Answer.NONE, lambda s: self.next_field(s, StepName.DESCRIPTION, valid=False)
            )
        self.store(description=text, description_confidence=self.inp.confidence)
        return self.next_field(state, StepName.DESCRIPTION)

    def on_answer_channel(self, state: FlowState) -> tuple[FlowState, Step]:
        choice = (
            None
            if self.inp.is_no_input
            else {"1": "phone", "2": "email"}.get(self.inp.digits or "")
        )
        if choice is None:
            return self.unusable(
                state,
                self.answer_kind(self.inp.digits),
                lambda s: self.next_field(s, StepName.ANSWER_CHANNEL, valid=False),
            )
        self.store(answer_channel=choice)
        return self.next_field(state, StepName.ANSWER_CHANNEL)

    def finish(self, state: FlowState, *intro: Say) -> tuple[FlowState, Step]:
        """Create the SR in this transaction; its number is read back only after the commit."""
        session = self.session  # NeedsLock when only planning: the SR is made under the lock
        message = self.message
        assert message is not None
        ended_by_silence = state.silence_offer and state.silent_turns > 0
        message.is_complete = not ended_by_silence
        sr_number = settle_message(
            session,
            self.call,
            message,
            catalog=self.catalog,
            scheduler=self.scheduler,
            now=self.now,
        )
        if sr_number is None:
            return flow.moved_to(state, StepName.END), Step(
                StepName.END, StepKind.HANGUP, (*intro, Say("no_number_goodbye"))
            )
        if ended_by_silence:
            number = {"sr_number": sr_number}
            return flow.moved_to(state, StepName.END), Step(
                StepName.END,
                StepKind.HANGUP,
                (*intro, Say("sr_number", digits=number), Say("silence_goodbye")),
            )
        return self.ask(flow.moved_to(state, StepName.READBACK), *intro)

    def on_readback(self, state: FlowState) -> tuple[FlowState, Step]:
        if (
            self.inp.digits == "1"
            and not self.inp.is_no_input
            and state.readbacks < flow.MAX_READBACKS
        ):
            return self.ask(replace(state, readbacks=state.readbacks + 1, attempt=1))
        return flow.moved_to(state, StepName.END), Step(
            StepName.END, StepKind.HANGUP, (Say("goodbye"),)
        )


def settle_message(
    session: Session,
    call: Call,
    message: Message,
    *,
    catalog: Catalog,
    scheduler: CallbackScheduler,
    now: datetime,
) -> str | None:
    """Turn the call's message into an SR with its callback, when anyone can be reached."""
    region = catalog.region(call.region)
    if message.callback_number is None:
        caller_id = _caller_id(call, region)
        if caller_id is not None:
            record_field(
                message,
                now=now,
                callback_number=caller_id,
                callback_number_source="caller_id",
            )
    reachable = (
        message.callback_number is not None
        or message.sr_reference is not None
        or (message.customer_number is not None and _has_email(session, message.customer_number))
    )
    call.is_settled = True
    if not reachable:
        call.outcome = "unreachable"
        return None
    submitted = submit_message(session, message, catalog=catalog, scheduler=scheduler, now=now)
    call.sr_number = submitted.sr_number
    return submitted.sr_number


def _has_email(session: Session, customer_number: str) -> bool:
    customer = find_customer(session, customer_number)
    return customer is not None and bool(customer.email)


def settle_call(
    session: Session, call: Call, *, catalog: Catalog, scheduler: CallbackScheduler, now: datetime
) -> str | None:
    """After the caller hung up: make what they left into an SR and a callback, once."""
    message = message_for_call(session, call.call_sid)
    if call.is_settled:
        if message is not None and message.sr_number is not None and not message.is_submitted:
            # Settled early while the caller went on: bring the SR up to what they left.
            submit_message(session, message, catalog=catalog, scheduler=scheduler, now=now)
        return call.sr_number
    state = FlowState.from_json(call.flow)
    # Hung up before leaving a message: nothing was promised unless we know who called and they
    # were not in the agent queue (where an agent may have answered: the status callback can
    # arrive before the queue's result, so both orders must end alike), they quoted a request,
    # or they asked to be called back while on hold.
    promised = (
        state.queue_callback
        or state.quoted_sr is not None
        or (call.is_identified and state.step is not StepName.AGENT)
    )
    if call.outcome == "agent" or (message is None and not promised):
        call.is_settled = True
        call.outcome = call.outcome or "abandoned"
        return None
    if message is None:
        customer = find_customer(session, call.customer_number) if call.customer_number else None
        region = catalog.region(call.region)
        # A caller who quoted a request and hung up before saying why is called back on it.
        kind = MessageKind.CALLBACK if state.quoted_sr else MessageKind.NEW
        message = new_message(
            call,
            kind=kind.value,
            product_line=call.product_line or region.default_product_line,
            company=customer.company if customer is not None else None,
            sr_reference=state.quoted_sr,
            now=now,
        )
        session.add(message)
    return settle_message(session, call, message, catalog=catalog, scheduler=scheduler, now=now)


@dataclass(frozen=True)
class CallStatusOutcome:
    """A status callback applied: whether the call is over, and the SR it left, if any."""

    known: bool
    ended: bool
    sr_number: str | None


@dataclass(frozen=True)
class CallStatusReport:
    """What one call status callback said."""

    call_sid: str
    status: str
    duration_seconds: int | None = None
    sequence: int | None = None  # Twilio's SequenceNumber, when sent
    to_number: str = ""
    from_number: str | None = None


def record_call_status(
    session: Session,
    report: CallStatusReport,
    *,
    catalog: Catalog,
    scheduler: CallbackScheduler,
    now: datetime,
) -> CallStatusOutcome:
    """Apply a call status callback; a call that ended leaves what the caller said as an SR.

    Late, duplicated or out-of-order callbacks change nothing: terminal states never regress
    and a lower SequenceNumber is ignored. A call that ended during the greeting (never
    stored) is stored now, ended.
    """
    call = _locked_call(session, report.call_sid)
    if call is None:
        unstored = _ended_in_greeting(report, catalog=catalog, now=now)
        if unstored is None:
            return _UNKNOWN_CALL
        values = _all_columns(unstored)
        if insert_if_absent(session, table_of(Call), values, unique="call_sid"):
            return CallStatusOutcome(known=True, ended=True, sr_number=None)
        call = _locked_call(session, report.call_sid)  # its first answer stored it meanwhile
        assert call is not None
    _apply_status(call, report, now=now)
    if call.status not in TERMINAL_STATUSES:
        return CallStatusOutcome(known=True, ended=False, sr_number=None)
    sr_number = settle_call(session, call, catalog=catalog, scheduler=scheduler, now=now)
    return CallStatusOutcome(known=True, ended=True, sr_number=sr_number)


def plan_call_status(
    reader: Connection, report: CallStatusReport, *, catalog: Catalog, now: datetime
) -> Planned[CallStatusOutcome] | CallStatusOutcome:
    """:func:`record_call_status` decided on a read, for the usual case: the call left no SR,
    or its SR already has everything. ``NeedsLock`` when the call's end must be settled.
    """
    loaded = _load_call_and_message(reader, report.call_sid)
    if loaded is None:
        unstored = _ended_in_greeting(report, catalog=catalog, now=now)
        if unstored is None:
            return _UNKNOWN_CALL
        # A first answer stored meanwhile makes the insert collide: decided again, locked.
        outcome = CallStatusOutcome(known=True, ended=True, sr_number=None)
        return Planned(outcome, (Write(_statements().insert_call, _all_columns(unstored)),))
    call, message = loaded
    version = call.version
    _apply_status(call, report, now=now)
    ended = call.status in TERMINAL_STATUSES
    more_for_sr = message is not None and message.sr_number is not None and not message.is_submitted
    if ended and (not call.is_settled or more_for_sr):
        raise NeedsLock()
    outcome = CallStatusOutcome(
        known=True, ended=ended, sr_number=call.sr_number if ended else None
    )
    if not inspect(call).committed_state:
        return outcome  # a duplicate or a late callback: nothing changes
    return Planned(outcome, (_call_update(call, version),))


_UNKNOWN_CALL = CallStatusOutcome(known=False, ended=False, sr_number=None)


def _ended_in_greeting(report: CallStatusReport, *, catalog: Catalog, now: datetime) -> Call | None:
    """The row of a call that ended before its first answer (None if it is not ours or has
    not ended): nothing was said, so nothing is owed."""
    region = catalog.region_for_number(report.to_number)
    if region is None or report.status not in TERMINAL_STATUSES:
        return None
    inp = CallerInput(
        call_sid=report.call_sid, to_number=report.to_number, from_number=report.from_number
    )
    call = _call_row(inp, region, now=now - timedelta(seconds=report.duration_seconds or 0))
    _apply_status(call, report, now=now)
    call.outcome = "abandoned"
    call.is_settled = True
    return call


def _apply_status(call: Call, report: CallStatusReport, *, now: datetime) -> None:
    """Late, duplicated or out-of-order statuses change nothing: terminal ones never regress
    and a lower SequenceNumber is ignored."""
    if call.status in TERMINAL_STATUSES:
        return
    status = report.status
    rank = report.sequence if report.sequence is not None else _STATUS_ORDER.get(status, 99)
    if rank > call.status_sequence or status in TERMINAL_STATUSES:
        call.status_sequence = max(call.status_sequence, rank)
        call.status = status
        if status in TERMINAL_STATUSES:
            call.ended_at = now
            call.duration_seconds = report.duration_seconds
        call.last_activity_at = now


def calls_to_settle(session: Session, *, now: datetime, limit: int = 200) -> list[str]:
    """CallSids of calls gone quiet without a status callback that still owe a settlement."""
    return list(
        session.scalars(
            select(Call.call_sid)
            .where(Call.is_settled.is_(False), Call.settle_after < now)
            .order_by(Call.settle_after)
            .limit(limit)
        )
    )


def settle_quiet_call(
    session: Session,
    call_sid: str,
    *,
    catalog: Catalog,
    scheduler: CallbackScheduler,
    now: datetime,
) -> str | None:
    """Settle one call found by :func:`calls_to_settle` (re-checked under its row lock)."""
    call = _locked_call(session, call_sid)
    if call is None or call.is_settled:
        return None
    return settle_call(session, call, catalog=catalog, scheduler=scheduler, now=now)


@dataclass(frozen=True)
class QueueWait:
    """What to do with a caller waiting for an agent."""

    leave: bool
    region: str
    language: str


def queue_wait(
    reader: Connection, *, call_sid: str, queue_seconds: int, catalog: Catalog
) -> QueueWait | None:
    """Keep a queued caller waiting until the region's maximum wait, then take a message.

    Only reads: the hold loop asks every few seconds and nothing about the call changes.
    """
    row = reader.execute(_statements().call_region, {"call_sid": call_sid}).first()
    if row is None:
        return None
    region = catalog.region(row.region)
    leave = queue_seconds >= region.agent_line.max_wait.total_seconds()
    return QueueWait(leave=leave, region=row.region, language=row.language)


def request_queue_callback(connection: Connection, *, call_sid: str, now: datetime) -> bool:
    """The queued caller pressed the callback key: leave the queue, keep the place in line."""
    statements = _statements()
    row = connection.execute(statements.call_flow_locked, {"call_sid": call_sid}).first()
    if row is None:
        return False
    flow_state = replace(FlowState.from_json(row.flow), queue_callback=True)
    values = {"flow": flow_state.to_json(), "last_activity_at": now, "b_call_sid": call_sid}
    connection.execute(statements.update_flow, values)
    return True


@dataclass(frozen=True)
class FallbackOutcome:
    """What came of a number left after a failure."""

    sr_number: str | None
    ask_again: bool  # the digits were no phone number and the caller has tries left


def record_fallback_number(
    session: Session,
    inp: CallerInput,
    *,
    attempt: int,
    catalog: Catalog,
    scheduler: CallbackScheduler,
    now: datetime,
) -> FallbackOutcome:
    """After a failure: keep the typed number (or the caller ID) and settle the call into an SR."""
    region = catalog.region_for_number(inp.to_number)
    if region is None:
        return FallbackOutcome(None, ask_again=False)
    typed = parse_callback_number(inp.digits, country=region.country)
    if inp.digits and typed is None and attempt < flow.MAX_TRIES:
        return FallbackOutcome(None, ask_again=True)
    call = _locked_call(session, inp.call_sid)
    if call is None:
        # Its first answer (or its status callback) may be storing the call right now.
        values = _all_columns(_call_row(inp, region, now=now))
        insert_if_absent(session, table_of(Call), values, unique="call_sid")
        call = _locked_call(session, inp.call_sid)
        assert call is not None
    message = message_for_call(session, call.call_sid)
    if message is None:
        message = new_message(
            call,
            kind=MessageKind.NEW.value,
            product_line=call.product_line or region.default_product_line,
            company=None,
            sr_reference=None,
            now=now,
        )
        session.add(message)
    if typed is not None:
        record_field(message, now=now, callback_number=typed, callback_number_source="typed")
    sr_number = settle_message(
        session, call, message, catalog=catalog, scheduler=scheduler, now=now
    )
    return FallbackOutcome(sr_number, ask_again=False)
