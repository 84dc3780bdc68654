"""The small rules of a caller's answers: three tries, long silence, field order, menu keys.

Pure; used by the step machine in ``intake.call_flow``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from intake.call_steps import (
    MAX_TRIES,
    MESSAGE_FIELDS,
    SILENCE_LIMIT,
    FlowState,
    MessageKind,
    Say,
    StepName,
)
from intake.number_policy import Refusal


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
        # An escalation is about a known SR: the duty manager needs only where to call back.
        if context.kind is MessageKind.ESCALATION and step is not StepName.CALLBACK_NUMBER:
            continue
        if step is StepName.COMPANY and context.company_known:
            continue
        if step is StepName.SR_REFERENCE and context.kind is not MessageKind.NEW:
            continue
        if step is StepName.ANSWER_CHANNEL and not context.email_known:
            continue
        return step
    return None


def menu_choice(digits: str | None) -> StepName | None:
    """The branch a menu key selects: 1 new request, 2 existing SR, 3 escalate an SR."""
    return {
        "1": StepName.CUSTOMER_NUMBER,
        "2": StepName.SR_LOOKUP,
        "3": StepName.ESCALATION_SR,
    }.get(digits or "")


# The reasons the escalation menu offers (seed: "Wann und wie eskaliere ich eine
# Support-Anfrage?"), by key; the values are ``escalations.records.EscalationReason``'s.
ESCALATION_REASONS = {
    "1": "production_down",  # production down during an upgrade or implementation
    "2": "business_impact",  # critical business impact that management must know
    "3": "not_satisfied",  # with the response or the resolution
    "4": "other",
}
# What an escalation whose reason was never given is raised for.
UNSTATED_REASON = "other"


def escalation_reason_choice(digits: str | None) -> str | None:
    """The escalation reason a key selects, if any."""
    return ESCALATION_REASONS.get(digits or "")


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


# The short reason a refused callback number is re-asked with, one prompt per kind.
_REFUSAL_PROMPTS = {
    Refusal.INVALID: "callback_invalid",
    Refusal.PREMIUM_RATE: "callback_refused_premium_rate",
    Refusal.SHARED_COST: "callback_refused_shared_cost",
    Refusal.OWN_NUMBER: "callback_refused_own_number",
    Refusal.COUNTRY: "callback_refused_country",
    Refusal.NUMBER_TYPE: "callback_refused_number_type",
}


def refusal_hint(reason: Refusal) -> Say:
    """What the caller hears before typing another number: why this one is not called."""
    return Say(_REFUSAL_PROMPTS[reason])
