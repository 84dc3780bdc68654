"""One turn of the caller's flow as data: what the caller did, the facts looked up, the decision.

Plain values passed between the turn service (``intake.turns``), which looks the facts up and
carries the decision out, and the pure step machine (``intake.call_flow``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from intake.call_rules import Answer
from intake.call_steps import FlowState, MessageKind, Say
from intake.number_policy import NumberPolicy


@dataclass(frozen=True)
class CallerAnswer:
    """What the caller did at this turn, as the webhook reported it."""

    digits: str | None = None
    speech: str | None = None
    confidence: float | None = None
    queue_result: str | None = None  # Enqueue's QueueResult after the agent queue
    is_silence: bool = False  # the re-prompt redirect after a <Gather> that heard nothing

    def typed(self) -> str | None:
        """The keys pressed, None for silence or nothing."""
        return None if self.is_silence else (self.digits or None)

    def said(self) -> str | None:
        """The speech recognised, stripped; None for silence or nothing."""
        return None if self.is_silence else (self.speech or "").strip() or None

    def judged(self, value: str | None) -> Answer:
        """An unusable ``value``: silence, or something we cannot use."""
        return Answer.NONE if self.is_silence or not value else Answer.INVALID


@dataclass(frozen=True)
class CustomerFacts:
    """The customer behind a customer number."""

    customer_number: str
    company: str
    has_email: bool
    products: tuple[str, ...]  # in menu order


@dataclass(frozen=True)
class LineFacts:
    """A product line as this turn may route to it."""

    key: str
    name: str
    is_open: bool
    hours: str  # spoken support hours
    promise: str  # the spoken callback promise


@dataclass(frozen=True)
class MessageFacts:
    """The call's message so far."""

    company: str | None = None
    callback_number: str | None = None
    recording_consent: bool | None = None


@dataclass(frozen=True)
class Facts:
    """Everything the flow may need at this turn, looked up before it is decided."""

    country: str  # the region's, for reading and parsing numbers
    numbers: NumberPolicy  # the numbers the region calls back
    default_line: str  # the region's product line for callers who name none
    call_line: str | None  # the product line the call has chosen so far
    consent_prompt_version: str
    lines: Mapping[str, LineFacts]  # every line this turn may route to, by key
    caller_id: str | None = None  # the caller's number, if one we call back (not withheld)
    customer: CustomerFacts | None = None  # for the typed number, else the call's own
    product_lines: Mapping[str, str] = field(default_factory=dict)  # product -> line key
    found_sr: str | None = None  # the SR number typed at the SR look-up, if such an SR exists
    message: MessageFacts | None = None
    escalation_promise: str = ""  # the duty manager's call back after an escalation, spoken


@dataclass(frozen=True)
class OpenMessage:
    """Open the call's message with what is already known."""

    kind: MessageKind
    product_line: str
    company: str | None
    sr_reference: str | None
    callback_asked_at: datetime | None  # None: now


@dataclass(frozen=True)
class Finish:
    """Make the message into an SR now; what the caller hears next depends on it."""

    is_complete: bool  # False when the call ended in the silence offer
    says: tuple[Say, ...]
    # An escalation's closing ("a duty manager will call you back"), said after ``says``
    # unless the caller holds for a duty manager instead.
    escalation_closing: Say | None = None


@dataclass(frozen=True)
class RaiseSeverity:
    """Record that the caller needs a higher severity on the SR (not an escalation)."""

    sr_number: str
    reason: str | None
    urgency_changed: bool | None


@dataclass(frozen=True)
class Decision:
    """What one turn does: the call's next state and what to store."""

    state: FlowState
    says: tuple[Say, ...] = ()  # spoken before the next question
    identified_as: str | None = None  # the customer number that identifies the caller
    product: str | None = None  # chosen now, with its line
    product_line: str | None = None
    outcome: str | None = None  # the call's outcome: agent, abandoned, message
    open_message: OpenMessage | None = None
    fields: Mapping[str, str | float | None] = field(default_factory=dict)
    consent: bool | None = None  # the recording consent given (or refused) now
    finish: Finish | None = None
    severity_raise: RaiseSeverity | None = None
