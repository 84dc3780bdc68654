"""The question for each step of the caller's journey: what they hear and how we listen.

Pure: the state says which step, the rest is what the question speaks (the caller ID offered as
the callback number, the SR number read back) or whether the description is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

from intake.call_steps import FlowState, Say, Step, StepKind, StepName
from intake.phone_numbers import spoken_digits


@dataclass(frozen=True)
class Asking:
    """What a question may speak of."""

    country: str
    caller_id: str | None = None  # offered as the callback number when dialable
    sr_number: str | None = None  # read back at the end
    has_consent: bool = False  # the caller agreed that the description is recorded


# The escalation's questions answered by one key, and what each asks.
_ONE_KEY_QUESTIONS = {
    StepName.ESCALATION_REASON: "escalation_reason",
    StepName.IMPACT_CHECK: "escalation_impact_check",
    StepName.URGENCY_CHECK: "escalation_urgency_check",
    StepName.SEVERITY_OFFER: "escalation_severity_offer",
}


def question(state: FlowState, asking: Asking, *intro: Say) -> Step:
    """The question for ``state.step``, preceded by ``intro``."""
    name = state.step
    if name is StepName.MENU:
        return Step(name, StepKind.DIGITS, (*intro, Say("menu")), num_digits=1)
    if name is StepName.CUSTOMER_NUMBER:
        return Step(name, StepKind.DIGITS, (*intro, Say("ask_customer_number")))
    if name is StepName.PRODUCT_CHOICE:
        options = tuple(
            Say("product_option", values={"product": p, "key": str(i)})
            for i, p in enumerate(state.products, start=1)
        )
        return Step(name, StepKind.DIGITS, (*intro, Say("product_intro"), *options), num_digits=1)
    if name is StepName.SR_LOOKUP:
        return Step(name, StepKind.DIGITS, (*intro, Say("ask_sr_number")))
    if name is StepName.SR_ACTION:
        return Step(name, StepKind.DIGITS, (*intro, Say("sr_action")), num_digits=1)
    if name is StepName.AGENT:
        return Step(name, StepKind.AGENT, (*intro, Say("connecting_agent")))
    if name is StepName.NAME:
        return Step(name, StepKind.SPEECH, (*intro, Say("ask_name")))
    if name is StepName.COMPANY:
        return Step(name, StepKind.SPEECH, (*intro, Say("ask_company")))
    if name is StepName.CALLBACK_NUMBER and state.pending_number is not None:
        spoken = spoken_digits(state.pending_number, country=asking.country)
        check = Say("callback_check", digits={"number": spoken})
        return Step(name, StepKind.DIGITS, (*intro, check), num_digits=1)
    if name is StepName.CALLBACK_NUMBER:
        if asking.caller_id is not None:
            spoken = spoken_digits(asking.caller_id, country=asking.country)
            ask = Say("callback_offer", digits={"number": spoken})
        else:
            ask = Say("callback_ask")
        return Step(name, StepKind.DIGITS, (*intro, ask))
    if name is StepName.SR_REFERENCE:
        return Step(name, StepKind.DIGITS, (*intro, Say("ask_sr_reference")), submit_empty=True)
    if name is StepName.CONSENT:
        return Step(name, StepKind.DIGITS, (*intro, Say("consent_ask")), num_digits=1)
    if name is StepName.DESCRIPTION:
        return Step(
            name,
            StepKind.SPEECH,
            (*intro, Say("ask_description")),
            # Recording starts once, after the caller's yes (never before it).
            start_recording=asking.has_consent and state.attempt == 1,
            long_speech=True,
        )
    if name is StepName.ANSWER_CHANNEL:
        return Step(name, StepKind.DIGITS, (*intro, Say("ask_answer_channel")), num_digits=1)
    if name is StepName.ESCALATION_SR and state.pending_sr is not None:
        check = Say("escalation_sr_check", digits={"sr_number": state.pending_sr})
        return Step(name, StepKind.DIGITS, (*intro, check), num_digits=1)
    if name in _ONE_KEY_QUESTIONS:
        return Step(name, StepKind.DIGITS, (*intro, Say(_ONE_KEY_QUESTIONS[name])), num_digits=1)
    if name is StepName.ESCALATION_SR:
        return Step(name, StepKind.DIGITS, (*intro, Say("escalation_ask_sr")))
    if name is StepName.ESCALATION_HOLD:
        # No question: the caller holds; the hold's webhook takes over (``ivr.twiml``).
        return Step(name, StepKind.HOLD, intro)
    if name is StepName.READBACK:
        assert asking.sr_number is not None, "the read-back needs the SR number"
        number = {"sr_number": asking.sr_number}
        says = (Say("sr_number", digits=number), Say("sr_number_again", digits=number))
        return Step(name, StepKind.DIGITS, (*intro, *says, Say("readback_menu")), num_digits=1)
    return Step(StepName.END, StepKind.HANGUP, intro)
