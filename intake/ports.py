"""The seams to the outside world: clock, SMS, e-mail, outbound calls, callback scheduling,
and the escalation desk (implemented by ``escalations``, which intake never imports)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session


class Clock(Protocol):
    """Source of the current instant (always UTC-aware)."""

    def now(self) -> datetime: ...


class SendError(Exception):
    """A send that did not happen and may be tried again."""


class SendRejected(SendError):
    """The provider refused the send for good (bad number, bad address); do not retry."""


class SendUncertain(SendError):
    """The request left but no answer came back: it may or may not have been delivered."""


@dataclass(frozen=True)
class SentMessage:
    """An SMS as the provider knows it."""

    sid: str
    to: str
    body: str
    status: str
    created_at: datetime | None = None


class Messenger(Protocol):
    """Sends SMS and can list what was sent, to settle uncertain sends."""

    def send_sms(
        self, *, to: str, from_: str, body: str, status_callback: str | None
    ) -> SentMessage:
        """Send ``body`` to ``to``; raises ``SendError`` subclasses."""
        ...

    def messages_sent_to(self, *, to: str, since: datetime) -> list[SentMessage]:
        """Messages sent to ``to`` at or after ``since`` (for de-duplicating uncertain sends)."""
        ...


class Mailer(Protocol):
    """Sends e-mail."""

    def send_mail(self, *, to: str, subject: str, body: str, message_id: str) -> None:
        """Deliver one message; ``message_id`` is stable across retries so clients can de-dupe."""
        ...


class Dialer(Protocol):
    """Places outbound calls."""

    def place_call(
        self,
        *,
        to: str,
        from_: str,
        url: str,
        status_callback: str | None,
        timeout_seconds: int,
        machine_detection: bool = False,
    ) -> str:
        """Start a call whose TwiML comes from ``url``; returns the call SID. With
        ``machine_detection`` Twilio tells ``url`` who answered (AnsweredBy)."""
        ...


@dataclass(frozen=True)
class CallbackRequest:
    """What the callback queue needs to promise a call back for a message."""

    sr_number: str
    message_id: int
    region: str
    language: str
    product_line: str
    callback_number: str
    # When the caller first called: a caller who gave up waiting keeps their place.
    requested_at: datetime
    # When the caller asked to be called back: the promise counts from here, however much
    # later the call is settled.
    asked_at: datetime
    # A promise of its own instead of the product line's (an escalation's duty-manager call
    # back): the callback is due this long after ``asked_at``.
    promise: timedelta | None = None


class CallbackScheduler(Protocol):
    """Puts a callback in the queue in the caller's transaction (implemented by ``callbacks``)."""

    def schedule_callback(
        self, session: Session, request: CallbackRequest, *, now: datetime
    ) -> datetime:
        """Add the callback row due by the promise from ``request.asked_at``; return due_at."""
        ...


@dataclass(frozen=True)
class EscalationRequest:
    """A customer's escalation of an SR by phone, as the call left it."""

    sr_number: str
    reason: str  # an ``intake.call_rules.ESCALATION_REASONS`` value
    call_sid: str
    caller_number: str | None  # the caller ID as it came (None: withheld)
    contact_number: str | None  # where the duty manager calls back
    is_us_government: bool  # called on an escalation-only (US government) line
    # The seed's pre-checks as the caller answered them (None: not answered).
    impact_as_recorded: bool | None
    urgency_changed: bool | None


@dataclass(frozen=True)
class EscalationReceipt:
    """The escalation the request raised, or the SR's open one it was logged on."""

    escalation_id: int
    is_new: bool


@dataclass(frozen=True)
class SeverityRaiseRequest:
    """A caller who needs a higher severity on an SR, not an escalation (one per call)."""

    sr_number: str
    reason: str | None  # the escalation reason chosen before the offer, if any
    call_sid: str
    caller_number: str | None
    urgency_changed: bool | None


class EscalationState(enum.StrEnum):
    """Where a customer's escalation stands, as a caller holding for it needs to know."""

    RAISED = "raised"  # the duty managers are being rung
    ACCEPTED = "accepted"  # a duty manager owns it
    UNOWNED = "unowned"  # nobody accepted in time
    CLOSED = "closed"  # de-escalated


@dataclass(frozen=True)
class CallEscalation:
    """The escalation a call raised, as the caller holding on that call hears of it."""

    escalation_id: int
    state: EscalationState
    raised_at: datetime
    owner_name: str | None  # who accepted it, if one did, as the caller hears it


class EscalationDesk(Protocol):
    """Takes customers' escalations and severity raises in the caller's transaction
    (implemented by ``escalations.desk``)."""

    def raise_escalation(
        self, session: Session, request: EscalationRequest, *, now: datetime
    ) -> EscalationReceipt:
        """Escalate the SR (its region's managers are told); once per call."""
        ...

    def raise_severity(
        self, session: Session, request: SeverityRaiseRequest, *, now: datetime
    ) -> bool:
        """Record the severity raise; False when this call had recorded it already."""
        ...

    def escalation_of_call(self, session: Session, call_sid: str) -> CallEscalation | None:
        """The escalation this call raised (not one it was logged on), if any; only reads."""
        ...
