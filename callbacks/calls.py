"""The agent-first call of a callback: ring the agent, whisper, dial the customer, settle.

``start_callback_call`` requests the agent's call (placed once by the worker); every later
webhook of that call is a ``LegReport`` that ``report_leg`` applies: it reads the facts (the
callback's status, its current call, where that call stands), decides with the pure
``leg_decision`` and writes the move it names, in the caller's transaction with the callback
locked. Twilio may send anything twice, late or out of order: a report for an older call, a
duplicate, or one for a callback no longer "calling" changes nothing. Status callbacks decide,
never timers; ``settle_lost_calls`` releases callbacks whose agent's call was never placed.

The webhook paths are relative: the worker resolves them against the public URL, which the
domain never knows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import String, cast, literal, select
from sqlalchemy.orm import Session

from callbacks import store
from callbacks.claims import (
    CALL_OUTCOME,
    Actor,
    UnknownCallback,
    apply_move,
    locked_callback,
    release_lost_call,
    require_holder,
)
from callbacks.lifecycle import Disposition, Move
from callbacks.models import Callback, CallbackStatus
from callbacks.queries import callback_view
from intake.catalog import Catalog
from intake.models import OutboundCall
from intake.outbound_calls import NEVER_REPORTED, request_call
from intake.staff import StaffMember

# Where Twilio asks what the agent hears, and where it reports the agent's call (``ivr``).
AGENT_LEG_PATH = "/ivr/agent/callback"
AGENT_STATUS_PATH = f"{AGENT_LEG_PATH}/status"
# The whisper's "press 1" is asked at most this many times; then the agent hears goodbye and
# the call's status callback releases the claim.
MAX_KEY_TRIES = 3
# Twilio's AnsweredBy values that mean nobody is there to talk to (machineDetection=Enable).
MACHINE_ANSWERS = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}
)
# The agent's leg ended before a key was pressed (CallStatus of its status callback).
AGENT_LEG_ENDED = frozenset({"no-answer", "busy", "failed", "canceled", "completed"})
# The customer's leg as the Dial action reports it (DialCallStatus), when nobody talked.
NOT_REACHED_BY_DIAL_STATUS = {
    "busy": Disposition.BUSY,
    "no-answer": Disposition.NO_ANSWER,
    "failed": Disposition.NO_ANSWER,
    "canceled": Disposition.NO_ANSWER,
}


class NoAgentPhone(Exception):
    """The staff member who starts the call has no phone number to ring."""


def call_key(callback_id: int, call_seq: int) -> str:
    """The outbound call's idempotency key: one agent's call per callback and call number."""
    return f"callback:{callback_id}:{call_seq}"


def leg_query(callback_id: int, call_seq: int) -> str:
    """The query naming a callback's call in every webhook URL of that call."""
    return urlencode({"callback": callback_id, "call": call_seq})


# -- starting the call -------------------------------------------------------------------------


def start_callback_call(
    session: Session, callback_id: int, *, by: StaffMember, now: datetime, catalog: Catalog
) -> Callback:
    """Ring ``by``'s phone for the claimed callback (the worker places the call once).

    Only the claim's holder or a manager may; raises ``CallbackConflict`` otherwise, and
    ``NoAgentPhone`` when ``by`` has no phone number.
    """
    callback = locked_callback(session, callback_id)
    require_holder(session, callback, Actor.of(by), Move.START_CALL)
    if not by.phone:
        raise NoAgentPhone(f"{by.name} has no phone number: the agent's phone is rung first")
    apply_move(
        session,
        callback,
        Move.START_CALL,
        actor=Actor.of(by),
        now=now,
        catalog=catalog,
        reason=f"ringing {by.name}",
    )
    callback.call_seq += 1
    callback.answered_by = None
    if callback.first_call_at is None:
        callback.first_call_at = now
    query = leg_query(callback.id, callback.call_seq)
    request_call(
        session,
        key=call_key(callback.id, callback.call_seq),
        to=by.phone,
        from_=catalog.region(callback.region).numbers[0],
        url=f"{AGENT_LEG_PATH}?{query}",
        status_callback=f"{AGENT_STATUS_PATH}?{query}",
        timeout_seconds=catalog.staff_ring_seconds,
        now=now,
    )
    return callback


# -- what a webhook of the agent's call reports ------------------------------------------------


@dataclass(frozen=True)
class AgentAnswered:
    """The agent picked up (``tries`` > 1: the whisper's question is asked again)."""

    tries: int = 1


@dataclass(frozen=True)
class AgentKey:
    """The agent pressed ``digits`` (empty: nothing) at try ``tries`` of the question."""

    digits: str
    tries: int = 1


@dataclass(frozen=True)
class CustomerAnswered:
    """The customer's phone was answered: by whom, as machine detection says (AnsweredBy)."""

    answered_by: str


@dataclass(frozen=True)
class DialEnded:
    """The Dial to the customer ended (DialCallStatus)."""

    dial_status: str


@dataclass(frozen=True)
class AgentLegEnded:
    """The agent's call reported a status (CallStatus of its REST status callback)."""

    call_status: str


LegReport = AgentAnswered | AgentKey | CustomerAnswered | DialEnded | AgentLegEnded


class Stage(enum.StrEnum):
    """Where the reported call stands."""

    RINGING_AGENT = "ringing_agent"  # waiting for the agent's key
    DIALLING_CUSTOMER = "dialling_customer"  # the agent pressed 1
    OVER = "over"  # another call, or the callback is no longer calling


class Reply(enum.StrEnum):
    """What the webhook answers (the edge renders it)."""

    WHISPER = "whisper"  # the summary, then "press 1 or 2"
    ASK_AGAIN = "ask_again"  # the question again
    NO_KEY = "no_key"  # goodbye; the status callback releases the claim
    DIAL_CUSTOMER = "dial_customer"
    RELEASED = "released"
    BRIDGE = "bridge"  # a person answered: connect them
    HANG_UP_CUSTOMER = "hang_up_customer"  # a machine answered
    REACHED = "reached"  # record how the call went
    NOT_REACHED = "not_reached"
    GONE = "gone"  # nothing to do for this call any more


@dataclass(frozen=True)
class LegFacts:
    """What a report is decided on."""

    stage: Stage
    answered_by: str | None = None


@dataclass(frozen=True)
class LegDecision:
    """A report's meaning: the move to make (if any), what to store, what to answer."""

    reply: Reply
    move: Move | None = None
    disposition: Disposition | None = None
    store_answered_by: str | None = None


def stage_of(
    status: CallbackStatus, *, call_seq: int, reported_seq: int, last_action: str | None
) -> Stage:
    """Where call ``reported_seq`` stands, from the callback's status and its last move."""
    if status is not CallbackStatus.CALLING or call_seq != reported_seq:
        return Stage.OVER
    if last_action == Move.AGENT_ACCEPTED.value:
        return Stage.DIALLING_CUSTOMER
    return Stage.RINGING_AGENT


def is_machine(answered_by: str | None) -> bool:
    """Whether Twilio's AnsweredBy means a machine (or fax) took the call."""
    return answered_by in MACHINE_ANSWERS


def leg_decision(facts: LegFacts, report: LegReport) -> LegDecision:
    """What ``report`` means for the call at ``facts``. Pure."""
    if isinstance(report, CustomerAnswered):
        # The customer is on the line whatever the callback's state: a person is bridged to
        # the agent who pressed 1; a machine is hung up on. Stored only for the current call.
        reply = Reply.HANG_UP_CUSTOMER if is_machine(report.answered_by) else Reply.BRIDGE
        stored = report.answered_by if facts.stage is Stage.DIALLING_CUSTOMER else None
        return LegDecision(reply, store_answered_by=stored)
    if facts.stage is Stage.OVER:
        return LegDecision(Reply.GONE)
    if facts.stage is Stage.RINGING_AGENT:
        return _ringing_agent(report)
    return _dialling_customer(facts, report)


def _ringing_agent(report: LegReport) -> LegDecision:
    if isinstance(report, AgentAnswered):
        if report.tries <= 1:
            return LegDecision(Reply.WHISPER)
        return LegDecision(Reply.ASK_AGAIN if report.tries <= MAX_KEY_TRIES else Reply.NO_KEY)
    if isinstance(report, AgentKey):
        if report.digits == "1":
            return LegDecision(Reply.DIAL_CUSTOMER, Move.AGENT_ACCEPTED)
        if report.digits == "2":
            return LegDecision(Reply.RELEASED, Move.AGENT_DECLINED)
        return LegDecision(Reply.ASK_AGAIN if report.tries < MAX_KEY_TRIES else Reply.NO_KEY)
    if isinstance(report, AgentLegEnded) and report.call_status in AGENT_LEG_ENDED:
        # No answer, busy, failed, or hung up (or the whisper gave up) before pressing 1.
        return LegDecision(Reply.RELEASED, Move.AGENT_DECLINED)
    # Progress (ringing, in-progress), or a Dial report before any Dial: nothing to decide.
    return LegDecision(Reply.GONE)


def _dialling_customer(facts: LegFacts, report: LegReport) -> LegDecision:
    if isinstance(report, AgentKey) and report.digits == "1":
        # The same key once more (Twilio retried the request): the same answer.
        return LegDecision(Reply.DIAL_CUSTOMER)
    if isinstance(report, DialEnded):
        if report.dial_status == "completed":
            if is_machine(facts.answered_by):
                return LegDecision(
                    Reply.NOT_REACHED,
                    Move.CUSTOMER_NOT_REACHED,
                    disposition=Disposition.ANSWERING_MACHINE,
                )
            return LegDecision(Reply.REACHED, Move.CUSTOMER_REACHED)
        disposition = NOT_REACHED_BY_DIAL_STATUS.get(report.dial_status)
        if disposition is not None:
            return LegDecision(Reply.NOT_REACHED, Move.CUSTOMER_NOT_REACHED, disposition)
    # The agent's leg ending after pressing 1 decides nothing: the Dial's outcome does.
    return LegDecision(Reply.GONE)


# -- applying a report -------------------------------------------------------------------------


@dataclass(frozen=True)
class CallSummary:
    """What the agent hears before choosing: the SR, who, how long until the promise, what."""

    sr_number: str
    company: str | None
    contact_name: str | None
    description: str | None
    time_left: timedelta


@dataclass(frozen=True)
class LegResult:
    """What the edge renders for a report, and what it changed."""

    reply: Reply
    # The callback's region (language, voice, caller ID); None for an unknown callback.
    region: str | None = None
    # The try of the question asked next (WHISPER, ASK_AGAIN).
    tries: int = 1
    customer_number: str | None = None
    disposition: Disposition | None = None
    # The callback's status after the report (queued again for a retry, unreachable, ...).
    status: CallbackStatus | None = None
    summary: CallSummary | None = None


def report_leg(
    session: Session,
    callback_id: int,
    call_seq: int,
    report: LegReport,
    *,
    now: datetime,
    catalog: Catalog,
) -> LegResult:
    """Apply one webhook of callback ``callback_id``'s call ``call_seq``, at most once."""
    try:
        callback = locked_callback(session, callback_id)
    except UnknownCallback:
        return LegResult(Reply.GONE)
    status = CallbackStatus(callback.status)
    stage = stage_of(
        status,
        call_seq=callback.call_seq,
        reported_seq=call_seq,
        last_action=store.last_action(session, callback.id),
    )
    decision = leg_decision(LegFacts(stage, callback.answered_by), report)
    if decision.store_answered_by is not None:
        callback.answered_by = decision.store_answered_by[:32]
        callback.updated_at = now
    if decision.move is not None:
        apply_move(
            session,
            callback,
            decision.move,
            actor=CALL_OUTCOME,
            now=now,
            catalog=catalog,
            reason=_reason(report),
            disposition=decision.disposition,
        )
    summary = None
    if decision.reply is Reply.WHISPER:
        summary = _summary(session, callback.id, now=now)
    tries = 1
    if isinstance(report, AgentAnswered):
        tries = report.tries
    elif isinstance(report, AgentKey):
        tries = report.tries + 1  # the question is asked again: the next try
    return LegResult(
        reply=decision.reply,
        region=callback.region,
        tries=tries,
        customer_number=callback.callback_number,
        disposition=decision.disposition,
        status=CallbackStatus(callback.status),
        summary=summary,
    )


def _reason(report: LegReport) -> str:
    if isinstance(report, AgentKey):
        return f"agent pressed {report.digits or 'nothing'}"
    if isinstance(report, DialEnded):
        return f"customer's phone: {report.dial_status}"
    if isinstance(report, AgentLegEnded):
        return f"agent's phone: {report.call_status}"
    return type(report).__name__


def _summary(session: Session, callback_id: int, *, now: datetime) -> CallSummary | None:
    view = callback_view(session, callback_id, now=now)
    if view is None:
        return None
    return CallSummary(
        sr_number=view.sr_number,
        company=view.company,
        contact_name=view.contact_name,
        description=view.description,
        time_left=view.time_left,
    )


# -- the backstop ------------------------------------------------------------------------------


def settle_lost_calls(session: Session, *, now: datetime, limit: int = 200) -> list[int]:
    """Release callbacks still "calling" whose agent's call was never placed (failed) or may
    not have been (uncertain: an alert is raised for a person); their ids."""
    key = (
        literal("callback:")
        .concat(cast(Callback.id, String))
        .concat(":")
        .concat(cast(Callback.call_seq, String))
    )
    lost = session.execute(
        select(Callback, OutboundCall.status)
        .join(OutboundCall, OutboundCall.key == key)
        .where(
            Callback.status == CallbackStatus.CALLING.value, OutboundCall.status.in_(NEVER_REPORTED)
        )
        .order_by(Callback.id)
        .limit(limit)
        .with_for_update(of=Callback, skip_locked=True)
    ).all()
    released = []
    for callback, call_status in lost:
        release_lost_call(
            session, callback, now=now, reason=f"the agent's call was not placed ({call_status})"
        )
        released.append(callback.id)
    return released
