"""The escalation-ring benchmark's phones: a customer escalating an SR, a duty manager passing.

Both are the signed call walker (``ivr.call_walker``) over a transport that stamps every
request it sends (``StampedTransport``): ``timed_press`` returns the stamp of the webhook a key
press sent, when it left and when its answer came back. The customer dials the region's number,
presses 3 (escalate), types the SR number, confirms its read-back, gives the reason (production
down), answers both pre-checks with 1 and reaches the callback number: its last key, 1 (call me
back on this number), settles the call, raises the escalation and asks for the first ring. The
duty manager answers a ring the worker placed (the mock's call: its Url, SID and status
callback) and hears the summary; 2 passes it on to the next person, 1 accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from ivr.call_walker import CallWalker, Transport

ESCALATE = "3"
CONFIRM_SR = "1"
REASON_PRODUCTION_DOWN = "1"
IMPACT_AS_RECORDED = "1"
URGENCY_CHANGED = "1"
# At the callback offer: "1" is the number the customer calls from; it settles the call.
CALL_ME_BACK_HERE = "1"
PASS = "2"
ACCEPT = "1"


@dataclass(frozen=True)
class Stamp:
    """One webhook sent: where, when it left, when its answer came back, the answer's status."""

    url: str
    sent: datetime
    answered: datetime
    status: int


@dataclass
class StampedTransport:
    """A walker's transport that keeps a ``Stamp`` of every request it sends."""

    transport: Transport
    stamps: list[Stamp] = field(default_factory=list)

    def __call__(self, url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        sent = datetime.now(UTC)
        status, body = self.transport(url, form, headers)
        self.stamps.append(Stamp(url, sent, datetime.now(UTC), status))
        return status, body


def timed_press(walker: CallWalker, transport: StampedTransport, keys: str) -> Stamp:
    """Press ``keys`` on ``walker`` (whose transport is ``transport``); the stamp of the
    webhook the press sent (not of what followed it, such as the call's status callback)."""
    first = len(transport.stamps)
    walker.press(keys)
    return transport.stamps[first]


def up_to_the_callback_number(walker: CallWalker, sr_number: str) -> None:
    """Dial and walk the escalation path of ``sr_number`` until the callback offer."""
    walker.dial()
    for keys in (
        ESCALATE,
        f"{sr_number}#",
        CONFIRM_SR,
        REASON_PRODUCTION_DOWN,
        IMPACT_AS_RECORDED,
        URGENCY_CHANGED,
    ):
        walker.press(keys)


class PlacedCall(Protocol):
    """A call the hotline placed, as the Twilio mock recorded it."""

    @property
    def sid(self) -> str: ...
    @property
    def to(self) -> str: ...
    @property
    def from_(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def status_callback(self) -> str | None: ...


def answered_ring(
    call: PlacedCall, transport: Transport, *, base_url: str, auth_token: str, account_sid: str
) -> CallWalker:
    """The duty manager's phone picking up ``call`` (a person, as machine detection reports),
    having heard the summary and the question."""
    if not call.url:
        raise ValueError(f"call {call.sid} has no webhook URL")
    phone = CallWalker(
        transport=transport,
        base_url=base_url,
        auth_token=auth_token,
        to=call.to,
        from_=call.from_,
        account_sid=account_sid,
        call_sid=call.sid,
        status_callback=call.status_callback,
    )
    phone.answer(call.url, answered_by="human")
    return phone
