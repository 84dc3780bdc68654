"""Call status callbacks: how the call went; a call that ended leaves what was said as an SR."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from db.unit_of_work import Done, Reading, Statements, Write
from intake.call_input import CallContext
from intake.call_store import CallRecord, CallStore, new_call
from intake.settlement import caller_id_of, settle_ended_call, settling_facts

# Twilio's terminal call statuses: nothing changes a call after one of these.
TERMINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
_STATUS_ORDER = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3}


@dataclass(frozen=True)
class CallStatusReport:
    """What one call status callback said."""

    call_sid: str
    status: str
    duration_seconds: int | None = None
    sequence: int | None = None  # Twilio's SequenceNumber, when sent
    to_number: str = ""
    from_number: str | None = None


@dataclass(frozen=True)
class CallStatusOutcome:
    """A status callback applied: whether the call is over, and the SR it left, if any."""

    known: bool
    ended: bool
    sr_number: str | None


_UNKNOWN_CALL = CallStatusOutcome(known=False, ended=False, sr_number=None)


def record_call_status(
    reading: Reading, report: CallStatusReport, *, context: CallContext
) -> Done[CallStatusOutcome] | Write[CallStatusOutcome] | Statements[CallStatusOutcome]:
    """Apply a status callback; a call that ended is settled (its message made into an SR).

    Late, duplicated or out-of-order callbacks change nothing: terminal states never regress
    and a lower SequenceNumber is ignored. A call that ended during the greeting (never
    stored) is stored now, ended.
    """
    stored = CallStore.reading(reading).load(report.call_sid)
    if stored is None:
        unstored = _ended_in_greeting(report, context)
        if unstored is None:
            return Done(_UNKNOWN_CALL)

        def store_ended(connection: Connection) -> CallStatusOutcome:
            CallStore(connection).save(None, unstored)
            return CallStatusOutcome(known=True, ended=True, sr_number=None)

        return Statements(store_ended)
    call = stored.call
    after = apply_status(call, report, now=context.now)
    ended = after.status in TERMINAL_STATUSES
    message = stored.message
    owes = ended and (not call.is_settled or (message is not None and not message.is_submitted))
    if after == call and not owes:
        # A duplicate or a late callback: nothing changes.
        return Done(CallStatusOutcome(known=True, ended=ended, sr_number=call.sr_number))

    if not owes:

        def save(connection: Connection) -> CallStatusOutcome:
            CallStore(connection).save(call, after)
            sr_number = after.sr_number if ended else None
            return CallStatusOutcome(known=True, ended=ended, sr_number=sr_number)

        return Statements(save)

    # What settling the caller's message reads is read now, before the write transaction.
    confirming = None
    if message is not None:
        confirming = settling_facts(
            reading.connection,
            after,
            customer_number=message.customer_number,
            callback_number=message.callback_number,
            caller_id=caller_id_of(after, context.catalog),
            context=context,
        )

    def settle(session: Session) -> CallStatusOutcome:
        settled = settle_ended_call(session, after, context=context, facts=confirming)
        CallStore(session.connection()).save(call, settled)
        return CallStatusOutcome(known=True, ended=ended, sr_number=settled.sr_number)

    return settle


def _ended_in_greeting(report: CallStatusReport, context: CallContext) -> CallRecord | None:
    """The row of a call that ended before its first answer (None if it is not ours or has
    not ended): nothing was said, so nothing is owed."""
    region = context.catalog.region_for_number(report.to_number)
    if region is None or report.status not in TERMINAL_STATUSES:
        return None
    started = context.now - timedelta(seconds=report.duration_seconds or 0)
    call = new_call(
        report.call_sid,
        region,
        to_number=report.to_number,
        from_number=report.from_number,
        started_at=started,
    )
    ended = apply_status(call, report, now=context.now)
    return replace(ended, outcome="abandoned", is_settled=True)


def apply_status(call: CallRecord, report: CallStatusReport, *, now: datetime) -> CallRecord:
    """The call after ``report``: terminal states never regress, lower sequences are ignored."""
    if call.status in TERMINAL_STATUSES:
        return call
    status = report.status
    rank = report.sequence if report.sequence is not None else _STATUS_ORDER.get(status, 99)
    if rank <= call.status_sequence and status not in TERMINAL_STATUSES:
        return call
    changed = replace(
        call,
        status=status,
        status_sequence=max(call.status_sequence, rank),
        last_activity_at=now,
    )
    if status in TERMINAL_STATUSES:
        changed = replace(changed, ended_at=now, duration_seconds=report.duration_seconds)
    return changed
