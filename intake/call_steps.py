"""What a call step is: its name, the prompts it speaks, how it listens, and the stored state.

Plain values shared by the pure flow (``intake.call_flow``), the questions (``intake.questions``),
the turn service and ``ivr.twiml``, which renders a :class:`Step` as TwiML.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Twilio's <Gather> gives up after 5 s of silence; three tries per step is the product rule.
MAX_TRIES = 3
# Two whole steps without a sound: offer a callback on the caller ID and end the call politely.
SILENCE_LIMIT = 2 * MAX_TRIES
MAX_READBACKS = 3


class StepName(enum.StrEnum):
    """Each point of the call at which we wait for the caller."""

    MENU = "menu"
    CUSTOMER_NUMBER = "customer_number"
    PRODUCT_CHOICE = "product_choice"
    AGENT = "agent"
    SR_LOOKUP = "sr_lookup"
    SR_ACTION = "sr_action"
    NAME = "name"
    COMPANY = "company"
    CALLBACK_NUMBER = "callback_number"
    SR_REFERENCE = "sr_reference"
    CONSENT = "consent"
    DESCRIPTION = "description"
    ANSWER_CHANNEL = "answer_channel"
    READBACK = "readback"
    END = "end"
    # Escalating an SR (menu key 3, or an escalation-only line): ``intake.escalation_flow``.
    ESCALATION_SR = "escalation_sr"
    ESCALATION_REASON = "escalation_reason"
    IMPACT_CHECK = "impact_check"
    URGENCY_CHECK = "urgency_check"
    SEVERITY_OFFER = "severity_offer"
    # The escalation is raised: the caller holds while the duty managers are rung
    # (``intake.escalation_hold``); the hold's own webhook answers from here on.
    ESCALATION_HOLD = "escalation_hold"


class StepKind(enum.StrEnum):
    """How the caller is asked (or not)."""

    DIGITS = "digits"
    SPEECH = "speech"
    AGENT = "agent"
    HANGUP = "hangup"
    # Nothing to answer: the caller holds, and the hold's webhook is asked after a pause.
    HOLD = "hold"


class MessageKind(enum.StrEnum):
    """Why the caller is leaving a message."""

    NEW = "new"
    UPDATE = "update"
    CALLBACK = "callback"
    # The duty manager's call back after an escalation (only the callback number is asked).
    ESCALATION = "escalation"


# The message fields in the order the caller is asked for them (seed: name, company, phone,
# SR reference, short description), then how the answer should come.
MESSAGE_FIELDS: tuple[StepName, ...] = (
    StepName.NAME,
    StepName.COMPANY,
    StepName.CALLBACK_NUMBER,
    StepName.SR_REFERENCE,
    StepName.CONSENT,
    StepName.DESCRIPTION,
    StepName.ANSWER_CHANNEL,
)


@dataclass(frozen=True)
class Say:
    """One prompt: its key in the prompt set, text values, and values spoken digit by digit."""

    key: str
    values: Mapping[str, str] = field(default_factory=dict)
    digits: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """What the caller hears next and how we listen for the answer."""

    name: StepName
    kind: StepKind
    says: tuple[Say, ...]
    num_digits: int | None = None
    finish_on_key: str = "#"
    start_recording: bool = False
    # The hash key alone (or silence) is an answer here: "no earlier request".
    submit_empty: bool = False
    # Free speech that may run long (the problem description).
    long_speech: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form, stored so a duplicated webhook gets the very same answer."""
        return {
            "name": self.name.value,
            "kind": self.kind.value,
            "says": [
                {"key": s.key, "values": dict(s.values), "digits": dict(s.digits)}
                for s in self.says
            ],
            "num_digits": self.num_digits,
            "finish_on_key": self.finish_on_key,
            "start_recording": self.start_recording,
            "submit_empty": self.submit_empty,
            "long_speech": self.long_speech,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Step:
        """Rebuild a step stored by :meth:`to_json`."""
        return cls(
            name=StepName(data["name"]),
            kind=StepKind(data["kind"]),
            says=tuple(
                Say(key=s["key"], values=s.get("values", {}), digits=s.get("digits", {}))
                for s in data["says"]
            ),
            num_digits=data.get("num_digits"),
            finish_on_key=data.get("finish_on_key", "#"),
            start_recording=bool(data.get("start_recording", False)),
            submit_empty=bool(data.get("submit_empty", False)),
            long_speech=bool(data.get("long_speech", False)),
        )


@dataclass(frozen=True)
class FlowState:
    """Where the call stands; stored as JSON on the call row."""

    step: StepName = StepName.MENU
    attempt: int = 1
    silent_turns: int = 0
    kind: MessageKind = MessageKind.NEW
    readbacks: int = 0
    silence_offer: bool = False
    # The customer's products in menu order, when they have more than one.
    products: tuple[str, ...] = ()
    # The SR quoted on the existing-request path.
    quoted_sr: str | None = None
    # The caller pressed the key for a callback while waiting in the queue, and when: the
    # callback promise counts from that moment.
    queue_callback: bool = False
    callback_asked_at: datetime | None = None
    # The identified customer has an e-mail address on file (the answer may come by e-mail).
    email_on_file: bool = False
    # A callback number typed with its country code but no 00, read back and awaiting the
    # caller's 1 (yes) or 2 (type again) before it is kept (E.164).
    pending_number: str | None = None
    # Escalating: an SR found and read back, awaiting the caller's 1 (right) or 2 (type again);
    # the reason's key value; the pre-checks' answers (None: not answered); and whether the
    # call came on an escalation-only (US government) line.
    pending_sr: str | None = None
    escalation_reason: str | None = None
    impact_as_recorded: bool | None = None
    urgency_changed: bool | None = None
    is_us_government: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form."""
        return {
            "step": self.step.value,
            "attempt": self.attempt,
            "silent_turns": self.silent_turns,
            "kind": self.kind.value,
            "readbacks": self.readbacks,
            "silence_offer": self.silence_offer,
            "products": list(self.products),
            "quoted_sr": self.quoted_sr,
            "queue_callback": self.queue_callback,
            "callback_asked_at": (
                self.callback_asked_at.isoformat() if self.callback_asked_at else None
            ),
            "email_on_file": self.email_on_file,
            "pending_number": self.pending_number,
            "pending_sr": self.pending_sr,
            "escalation_reason": self.escalation_reason,
            "impact_as_recorded": self.impact_as_recorded,
            "urgency_changed": self.urgency_changed,
            "is_us_government": self.is_us_government,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FlowState:
        """Rebuild a state stored by :meth:`to_json` (an empty dict is a new call)."""
        if not data:
            return cls()
        return cls(
            step=StepName(data["step"]),
            attempt=int(data.get("attempt", 1)),
            silent_turns=int(data.get("silent_turns", 0)),
            kind=MessageKind(data.get("kind", MessageKind.NEW)),
            readbacks=int(data.get("readbacks", 0)),
            silence_offer=bool(data.get("silence_offer", False)),
            products=tuple(data.get("products", ())),
            quoted_sr=data.get("quoted_sr"),
            queue_callback=bool(data.get("queue_callback", False)),
            callback_asked_at=_instant(data.get("callback_asked_at")),
            email_on_file=bool(data.get("email_on_file", False)),
            pending_number=data.get("pending_number"),
            pending_sr=data.get("pending_sr"),
            escalation_reason=data.get("escalation_reason"),
            impact_as_recorded=data.get("impact_as_recorded"),
            urgency_changed=data.get("urgency_changed"),
            is_us_government=bool(data.get("is_us_government", False)),
        )


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
