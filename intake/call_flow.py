"""Pure call-flow policy: given where a call stands and what the caller did, what happens next.

No I/O here. ``intake.calls`` looks facts up (customer, SR, hours), then asks these functions what
to do; ``ivr.twiml`` renders the resulting :class:`Step`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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


class StepKind(enum.StrEnum):
    """How the caller is asked (or not)."""

    DIGITS = "digits"
    SPEECH = "speech"
    AGENT = "agent"
    HANGUP = "hangup"


class MessageKind(enum.StrEnum):
    """Why the caller is leaving a message."""

    NEW = "new"
    UPDATE = "update"
    CALLBACK = "callback"


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
    # The caller pressed the key for a callback while waiting in the queue.
    queue_callback: bool = False
    # The identified customer has an e-mail address on file (the answer may come by e-mail).
    email_on_file: bool = False

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
            "email_on_file": self.email_on_file,
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
            email_on_file=bool(data.get("email_on_file", False)),
        )


class Answer(enum.Enum):
    """How the caller's input at a step was judged."""

    NONE = "none"  # silence: the re-prompt redirect after an empty <Gather>
    INVALID = "invalid"  # something typed or said that we cannot use
    VALID = "valid"


@dataclass(frozen=True)
class Retry:
    """Ask the same step again."""

    state: FlowState
    says: tuple[Say, ...]


@dataclass(frozen=True)
class GiveUp:
    """Stop asking this step; the caller moves on with the step's safe default."""

    state: FlowState


@dataclass(frozen=True)
class SilenceEnd:
    """The caller has said nothing for too long: offer a callback on the caller ID, then end."""

    state: FlowState


def after_unusable_input(state: FlowState, answer: Answer) -> Retry | GiveUp | SilenceEnd:
    """Re-prompt up to three times per step; a long silence ends in a callback offer."""
    silent = state.silent_turns + 1 if answer is Answer.NONE else 0
    if answer is Answer.NONE and silent >= SILENCE_LIMIT and not state.silence_offer:
        return SilenceEnd(replace(state, silent_turns=silent, silence_offer=True, attempt=1))
    if state.attempt >= MAX_TRIES:
        return GiveUp(replace(state, attempt=1, silent_turns=silent))
    hint = Say("no_input") if answer is Answer.NONE else Say("not_understood")
    return Retry(replace(state, attempt=state.attempt + 1, silent_turns=silent), (hint,))


def after_valid_input(state: FlowState, next_step: StepName) -> FlowState:
    """Move on to ``next_step`` with fresh tries; the caller is not silent any more."""
    return replace(state, step=next_step, attempt=1, silent_turns=0)


def moved_to(state: FlowState, next_step: StepName) -> FlowState:
    """Move on to ``next_step`` keeping the silence count (used after giving up on a step)."""
    return replace(state, step=next_step, attempt=1)


@dataclass(frozen=True)
class FieldContext:
    """What is already known, so the caller is not asked for it again."""

    kind: MessageKind
    company_known: bool
    email_known: bool


def next_message_field(after: StepName | None, context: FieldContext) -> StepName | None:
    """The next message field to ask for after ``after`` (None: start), or None when done."""
    start = 0 if after is None else MESSAGE_FIELDS.index(after) + 1
    for step in MESSAGE_FIELDS[start:]:
        if step is StepName.COMPANY and context.company_known:
            continue
        if step is StepName.SR_REFERENCE and context.kind is not MessageKind.NEW:
            continue
        if step is StepName.ANSWER_CHANNEL and not context.email_known:
            continue
        return step
    return None


def menu_choice(digits: str | None) -> StepName | None:
    """The branch a menu key selects: 1 new request, 2 existing SR."""
    return {"1": StepName.CUSTOMER_NUMBER, "2": StepName.SR_LOOKUP}.get(digits or "")


def sr_action_choice(digits: str | None) -> MessageKind | None:
    """On an existing SR: 1 leaves an update, 2 asks for a callback."""
    return {"1": MessageKind.UPDATE, "2": MessageKind.CALLBACK}.get(digits or "")


def product_choice(digits: str | None, products: tuple[str, ...]) -> str | None:
    """The product whose menu key was pressed (1-based), if any."""
    if digits and digits.isdigit() and 1 <= int(digits) <= len(products):
        return products[int(digits) - 1]
    return None


def yes_no(digits: str | None) -> bool | None:
    """1 means yes, 2 means no, anything else is no answer."""
    return {"1": True, "2": False}.get(digits or "")


class AgentOutcome(enum.Enum):
    """What came of trying to reach an agent."""

    TALKED = "talked"
    CALLER_HUNG_UP = "caller_hung_up"
    NO_AGENT = "no_agent"


# Enqueue's QueueResult, per Twilio's TwiML reference.
_TALKED = {"bridged"}
_HUNG_UP = {"hangup"}


def agent_outcome(result: str | None) -> AgentOutcome:
    """Judge Enqueue's ``QueueResult``."""
    if result in _TALKED:
        return AgentOutcome.TALKED
    if result in _HUNG_UP:
        return AgentOutcome.CALLER_HUNG_UP
    # leave (max wait or callback key), queue-full, error, system-error, busy, no-answer, failed
    return AgentOutcome.NO_AGENT


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit of ``digits`` (catches every single-digit typo and most swaps)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def sr_number_for(sequence: int) -> str:
    """The caller-facing SR number of the ``sequence``-th SR: 7+ digits plus a check digit."""
    body = f"{1_000_000 + sequence:07d}"
    return body + luhn_check_digit(body)


def is_plausible_sr_number(digits: str | None) -> bool:
    """Whether typed digits could be an SR number (length and check digit)."""
    if not digits or not digits.isdigit() or len(digits) < 8:
        return False
    return luhn_check_digit(digits[:-1]) == digits[-1]
