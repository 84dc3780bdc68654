"""After a failure: the caller's number (typed, or the caller ID) becomes an SR with a callback."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from db.unit_of_work import Done, Reading, Write
from intake.call_input import ADDRESS_LIMIT, CALL_SID_LIMIT, DIGITS_LIMIT, CallContext, CallerInput
from intake.call_rules import refusal_hint
from intake.call_steps import MAX_TRIES, MessageKind
from intake.call_store import CallStore, new_call
from intake.catalog import Catalog
from intake.messages import message_for_call, new_message_values, record_field
from intake.models import Message
from intake.number_policy import (
    Accepted,
    NumberPolicy,
    Refusal,
    Refused,
    judge_callback_number,
)
from intake.settlement import settle_message


@dataclass(frozen=True)
class FallbackOutcome:
    """What came of a number left after a failure."""

    sr_number: str | None
    ask_again: bool  # the digits were no phone number and the caller has tries left
    # Kept in the spool while the database was away; the worker makes it into an SR later.
    is_spooled: bool = False


def asks_again(inp: CallerInput, *, attempt: int, catalog: Catalog) -> bool:
    """Whether the digits typed are no phone number and the caller has tries left (no I/O)."""
    region = catalog.region_for_number(inp.to_number)
    if region is None or not inp.digits or attempt >= MAX_TRIES:
        return False
    return fallback_number(inp.digits, catalog.number_policy(region)) is None


def why_asked_again(inp: CallerInput, *, catalog: Catalog) -> str:
    """The prompt that says why the typed number is not one we call (no I/O)."""
    region = catalog.region_for_number(inp.to_number)
    if region is None:
        return refusal_hint(Refusal.INVALID).key
    judged = judge_callback_number(inp.digits, catalog.number_policy(region))
    reason = judged.reason if isinstance(judged, Refused) else Refusal.INVALID
    return refusal_hint(reason).key


def fallback_number(digits: str | None, policy: NumberPolicy) -> str | None:
    """The number typed at the fallback when it is one we call back (E.164), else None.

    The same policy as the call flow: no premium-rate, shared-cost, foreign or own numbers.
    There is no read-back here (Twilio is failing us): a number typed with its country code
    but no 00 is taken as the international number it spells, the reading the flow offers.
    """
    judged = judge_callback_number(digits, policy)
    return judged.e164 if isinstance(judged, Accepted) else None


def record_fallback_number(
    reading: Reading, inp: CallerInput, *, attempt: int, context: CallContext
) -> Done[FallbackOutcome] | Write[FallbackOutcome]:
    """Keep the typed number (or the caller ID) and settle the call into an SR.

    Idempotent by CallSid: the same number given again (a retried webhook, a spooled number
    replayed twice) brings the call's one SR up to date.
    """
    region = context.catalog.region_for_number(inp.to_number)
    if region is None:
        return Done(FallbackOutcome(None, ask_again=False))
    if asks_again(inp, attempt=attempt, catalog=context.catalog):
        return Done(FallbackOutcome(None, ask_again=True))
    typed = fallback_number(inp.digits, context.catalog.number_policy(region))
    stored = CallStore.reading(reading).load(inp.call_sid)
    now = context.now

    def write(session: Session) -> FallbackOutcome:
        if stored is None:  # failed before its first answer was stored
            before = None
            call = new_call(
                inp.call_sid,
                region,
                to_number=inp.to_number,
                from_number=inp.from_number,
                started_at=now,
            )
        else:
            before = call = stored.call
        message = message_for_call(session, call.call_sid)
        if message is None:
            values = new_message_values(
                call,
                kind=MessageKind.NEW.value,
                product_line=call.product_line or region.default_product_line,
                company=None,
                sr_reference=None,
                callback_asked_at=now,
                now=now,
            )
            message = Message(**values)
            session.add(message)
        if typed is not None:
            record_field(message, now=now, callback_number=typed, callback_number_source="typed")
        settled = settle_message(session, call, message, context=context)
        CallStore(session.connection()).save(before, settled)
        return FallbackOutcome(settled.sr_number, ask_again=False)

    return write


@dataclass(frozen=True)
class SpooledNumber:
    """A number left after a failure while the database was away, as kept in the spool."""

    caller: CallerInput
    attempt: int
    received_at: datetime

    def to_record(self) -> dict[str, Any]:
        """The spool's JSON values (the CallSid is the record's key)."""
        return {
            "call_sid": self.caller.call_sid,
            "to": self.caller.to_number,
            "from": self.caller.from_number,
            "digits": self.caller.digits,
            "attempt": self.attempt,
            "received_at": self.received_at.isoformat(),
        }

    @classmethod
    def from_record(cls, values: dict[str, Any]) -> SpooledNumber:
        """The number back from the spool, cut to the limits as the edge would have."""
        caller = CallerInput(
            call_sid=str(values["call_sid"])[:CALL_SID_LIMIT],
            to_number=str(values["to"])[:ADDRESS_LIMIT],
            from_number=_text(values.get("from"), ADDRESS_LIMIT),
            digits=_text(values.get("digits"), DIGITS_LIMIT),
        )
        received_at = datetime.fromisoformat(str(values["received_at"]))
        if received_at.tzinfo is None:
            raise ValueError("a spooled instant must carry its UTC offset")
        return cls(caller=caller, attempt=int(values["attempt"]), received_at=received_at)


def _text(value: object, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


def replay_spooled_number(
    reading: Reading, spooled: SpooledNumber, *, context: CallContext
) -> Done[FallbackOutcome] | Write[FallbackOutcome]:
    """Settle a spooled number into an SR, as if the database had answered when it was given.

    Counted from ``context.now`` (the time the caller gave the number); digits that are no phone
    number fall back to the caller ID, since the caller can no longer be asked again.
    """
    return record_fallback_number(
        reading, spooled.caller, attempt=max(spooled.attempt, MAX_TRIES), context=context
    )
