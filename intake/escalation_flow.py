"""Pure decisions of the escalation steps: a customer escalates an SR by phone.

Menu key 3, or a call to an escalation-only (US government) line, leads here: the SR number by
keypad, read back digit by digit (1: right, 2: type again; an SR not found three times leaves a
message instead); the reason by keypad; the seed's pre-checks as yes/no questions; a severity
raise offered when that is all the caller needs. An escalation opens a message of its own kind
that asks only for the callback number; settling it (``intake.settlement``) raises the
escalation through the ``EscalationDesk`` port and queues the duty manager's call back, and the
caller then holds while the duty managers are rung (``intake.escalation_hold``). No I/O:
``intake.call_flow`` dispatches these steps and supplies the moves they share with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from intake.call_facts import CallerAnswer, Decision, Facts, MessageFacts, RaiseSeverity
from intake.call_rules import (
    UNSTATED_REASON,
    Answer,
    after_valid_input,
    escalation_reason_choice,
    moved_to,
    yes_no,
)
from intake.call_steps import FlowState, MessageKind, Say, StepName
from intake.sr_numbers import is_plausible_sr_number

Next = Callable[[FlowState], Decision]


class Deciding(Protocol):
    """The moves of ``intake.call_flow``'s decision that the escalation steps use."""

    answer: CallerAnswer
    facts: Facts
    outcome: str | None
    severity_raise: RaiseSeverity | None

    def ask(self, state: FlowState, *says: Say) -> Decision: ...

    def end(self, state: FlowState, *says: Say) -> Decision: ...

    def unusable(self, state: FlowState, answer: Answer, give_up: Next, *hint: Say) -> Decision: ...

    def start_message(
        self, state: FlowState, kind: MessageKind, *says: Say, valid: bool = True
    ) -> Decision: ...


def needs_only_a_severity_raise(state: FlowState) -> bool:
    """Whether the caller is offered a severity raise instead of an escalation.

    The seed ("So eskalieren Sie eine Support-Anfrage"): "Hinweis: Wenn sich die geschäftlichen
    Auswirkungen einer Support-Anfrage ändern oder zu Beginn nicht korrekt aufgenommen wurden,
    kann der Schweregrad einer Support-Anfrage auch ohne Eskalation erhöht werden." So the
    business impact alone decides: a caller for whom the impact recorded is no longer right
    (changed, or wrong from the start) is offered the raise, and chooses. The urgency answer
    decides nothing (the seed only checks that the urgency is stated in the SR); it goes with
    the escalation or the severity raise for whoever takes it up. No answer is no offer.
    """
    return state.impact_as_recorded is False


def escalation_recorded(message: MessageFacts | None, facts: Facts) -> Say:
    """What the caller hears once the escalation is raised: the call back, if we have a number."""
    if message is not None and message.callback_number:
        return Say("escalation_recorded", values={"promise": facts.escalation_promise})
    return Say("escalation_recorded_no_number")


class EscalationSteps:
    """The escalation steps' decisions, made with the moves of ``call_flow``'s decision."""

    def __init__(self, deciding: Deciding) -> None:
        self.d = deciding

    # -- the SR ---------------------------------------------------------------------------------

    def on_sr(self, state: FlowState) -> Decision:
        if state.pending_sr is not None:
            return self.on_sr_check(state)
        d = self.d
        typed = d.answer.typed()
        found = d.facts.found_sr if typed else None
        if found is None or found != typed:
            hint = Say("sr_not_found") if is_plausible_sr_number(typed) else Say("sr_invalid")
            return d.unusable(
                state, d.answer.judged(typed), self.sr_not_given, *((hint,) if typed else ())
            )
        # Read back digit by digit before anything is escalated: a mistyped SR that happens to
        # exist would alarm another customer's managers.
        return d.ask(replace(state, pending_sr=found, attempt=1, silent_turns=0))

    def on_sr_check(self, state: FlowState) -> Decision:
        """The caller's 1 confirms the SR read back; 2 types it again (one of the tries)."""
        d = self.d
        pending = state.pending_sr
        typed = d.answer.typed()
        if typed == "1":
            confirmed = replace(state, pending_sr=None, quoted_sr=pending)
            return d.ask(after_valid_input(confirmed, StepName.ESCALATION_REASON))
        if typed == "2":
            again = replace(state, pending_sr=None, silent_turns=0)
            return d.unusable(
                again, Answer.INVALID, self.sr_not_given, Say("escalation_sr_type_again")
            )
        return d.unusable(state, d.answer.judged(typed), self.sr_not_given)

    def sr_not_given(self, state: FlowState) -> Decision:
        """No SR found and confirmed in three tries: the caller leaves a message instead, with
        the SR unquoted (they may give it as the message's SR reference)."""
        state = replace(state, pending_sr=None, quoted_sr=None)
        return self.d.start_message(
            state, MessageKind.NEW, Say("escalation_sr_gave_up"), valid=False
        )

    # -- the reason and the pre-checks ----------------------------------------------------------

    def on_reason(self, state: FlowState) -> Decision:
        d = self.d
        reason = escalation_reason_choice(d.answer.typed())
        if reason is None:

            def unstated(s: FlowState) -> Decision:
                s = replace(s, escalation_reason=UNSTATED_REASON)
                return d.ask(moved_to(s, StepName.IMPACT_CHECK))

            return d.unusable(state, d.answer.judged(d.answer.typed()), unstated)
        state = replace(state, escalation_reason=reason)
        return d.ask(after_valid_input(state, StepName.IMPACT_CHECK))

    def on_impact_check(self, state: FlowState) -> Decision:
        d = self.d
        as_recorded = yes_no(d.answer.typed())
        if as_recorded is None:
            return d.unusable(
                state,
                d.answer.judged(d.answer.typed()),
                lambda s: d.ask(moved_to(s, StepName.URGENCY_CHECK)),
            )
        state = replace(state, impact_as_recorded=as_recorded)
        return d.ask(after_valid_input(state, StepName.URGENCY_CHECK))

    def on_urgency_check(self, state: FlowState) -> Decision:
        d = self.d
        changed = yes_no(d.answer.typed())
        if changed is None:
            return d.unusable(
                state,
                d.answer.judged(d.answer.typed()),
                lambda s: self.after_checks(s, valid=False),
            )
        return self.after_checks(replace(state, urgency_changed=changed))

    def after_checks(self, state: FlowState, *, valid: bool = True) -> Decision:
        if needs_only_a_severity_raise(state):
            offer = StepName.SEVERITY_OFFER
            return self.d.ask(after_valid_input(state, offer) if valid else moved_to(state, offer))
        return self.escalate(state, valid=valid)

    # -- severity raise or escalation -----------------------------------------------------------

    def on_severity_offer(self, state: FlowState) -> Decision:
        """1 raises the severity without escalating; 2 (or no answer) escalates anyway."""
        d = self.d
        typed = d.answer.typed()
        if typed == "1":
            sr_number = state.quoted_sr
            assert sr_number is not None, "the severity offer follows a confirmed SR"
            d.severity_raise = RaiseSeverity(
                sr_number=sr_number,
                reason=state.escalation_reason,
                urgency_changed=state.urgency_changed,
            )
            d.outcome = "severity_raise"
            raised = Say("escalation_severity_raised", digits={"sr_number": sr_number})
            return d.end(after_valid_input(state, StepName.END), raised, Say("goodbye"))
        if typed == "2":
            return self.escalate(state)
        # The caller called to escalate: without an answer, they get the escalation.
        return d.unusable(state, d.answer.judged(typed), lambda s: self.escalate(s, valid=False))

    def escalate(self, state: FlowState, *, valid: bool = True) -> Decision:
        """Open the escalation's message on the SR; only the callback number is asked, then the
        call is settled, which raises the escalation."""
        decided = self.d.start_message(state, MessageKind.ESCALATION, valid=valid)
        return replace(decided, outcome="escalation")
