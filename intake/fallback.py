"""After a failure: the caller's number (typed, or the caller ID) becomes an SR with a callback."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from db.unit_of_work import Done, Reading, Write
from intake.call_input import CallContext, CallerInput
from intake.call_steps import MAX_TRIES, MessageKind
from intake.call_store import CallStore, new_call
from intake.messages import message_for_call, new_message_values, record_field
from intake.models import Message
from intake.number_policy import Accepted, NumberPolicy, judge_callback_number
from intake.settlement import settle_message


@dataclass(frozen=True)
class FallbackOutcome:
    """What came of a number left after a failure."""

    sr_number: str | None
    ask_again: bool  # the digits were no phone number and the caller has tries left


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
    """Keep the typed number (or the caller ID) and settle the call into an SR."""
    region = context.catalog.region_for_number(inp.to_number)
    if region is None:
        return Done(FallbackOutcome(None, ask_again=False))
    typed = fallback_number(inp.digits, context.catalog.number_policy(region))
    if inp.digits and typed is None and attempt < MAX_TRIES:
        return Done(FallbackOutcome(None, ask_again=True))
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
