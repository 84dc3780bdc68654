"""Pure call-flow policy: where a call stands, what the caller did and the facts -> what's next.

``decide(state, answer, facts)`` is the step machine of the caller's journey (seed and product
brief): menu -> customer number -> support hours -> an agent, or else a message field by field
-> the SR is created and read back. No I/O: the turn service (``intake.turns``) looks the facts
up before (customer, quoted SR, support hours, caller ID) and carries out the decision after
(stores the fields, creates the SR); ``intake.questions`` turns the next state into a Step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from intake.call_facts import (
    CallerAnswer,
    Decision,
    Facts,
    Finish,
    LineFacts,
    MessageFacts,
    OpenMessage,
    RaiseSeverity,
)
from intake.call_rules import (
    AgentOutcome,
    Answer,
    FieldContext,
    Retry,
    SilenceEnd,
    after_unusable_input,
    after_valid_input,
    agent_outcome,
    menu_choice,
    moved_to,
    next_message_field,
    product_choice,
    refusal_hint,
    sr_action_choice,
    yes_no,
)
from intake.call_steps import MAX_READBACKS, FlowState, MessageKind, Say, StepName
from intake.escalation_flow import EscalationSteps, escalation_recorded
from intake.number_policy import Accepted, judge_callback_number
from intake.phone_numbers import spoken_digits
from intake.sr_numbers import is_plausible_sr_number


def decide(state: FlowState, answer: CallerAnswer, facts: Facts) -> Decision:
    """The decision for ``answer`` at ``state``: the step machine, as plain data."""
    return _Deciding(answer, facts).at(state)


Next = Callable[[FlowState], Decision]


class _Deciding:
    """One decision being made; collects what the turn stores on the way (no I/O)."""

    def __init__(self, answer: CallerAnswer, facts: Facts) -> None:
        self.answer = answer
        self.facts = facts
        self.message = facts.message
        self.opened: OpenMessage | None = None
        self.fields: dict[str, str | float | None] = {}
        self.consent: bool | None = None
        self.identified_as: str | None = None
        self.customer = facts.customer
        self.product: str | None = None
        self.line_key: str | None = None
        self.outcome: str | None = None
        self.severity_raise: RaiseSeverity | None = None

    def at(self, state: FlowState) -> Decision:
        escalating = EscalationSteps(self)
        handler: Next | None = {
            StepName.MENU: self.on_menu,
            StepName.CUSTOMER_NUMBER: self.on_customer_number,
            StepName.PRODUCT_CHOICE: self.on_product_choice,
            StepName.AGENT: self.on_agent,
            StepName.SR_LOOKUP: self.on_sr_lookup,
            StepName.SR_ACTION: self.on_sr_action,
            StepName.NAME: lambda s: self.speech_field(s, "contact_name"),
            StepName.COMPANY: lambda s: self.speech_field(s, "company"),
            StepName.CALLBACK_NUMBER: self.on_callback_number,
            StepName.SR_REFERENCE: self.on_sr_reference,
            StepName.CONSENT: self.on_consent,
            StepName.DESCRIPTION: self.on_description,
            StepName.ANSWER_CHANNEL: self.on_answer_channel,
            StepName.READBACK: self.on_readback,
            StepName.ESCALATION_SR: escalating.on_sr,
            StepName.ESCALATION_REASON: escalating.on_reason,
            StepName.IMPACT_CHECK: escalating.on_impact_check,
            StepName.URGENCY_CHECK: escalating.on_urgency_check,
            StepName.SEVERITY_OFFER: escalating.on_severity_offer,
        }.get(state.step)
        if handler is None:
            return self.end(state, Say("goodbye"))
        return handler(state)

    # -- what the decision says -----------------------------------------------------------------

    def ask(self, state: FlowState, *says: Say) -> Decision:
        return Decision(
            state=state,
            says=says,
            identified_as=self.identified_as,
            product=self.product,
            product_line=self.line_key,
            outcome=self.outcome,
            open_message=self.opened,
            fields=dict(self.fields),
            consent=self.consent,
            severity_raise=self.severity_raise,
        )

    def end(self, state: FlowState, *says: Say) -> Decision:
        return self.ask(moved_to(state, StepName.END), *says)

    def finish(self, state: FlowState, *says: Say) -> Decision:
        """The SR is made in this turn; its number is read back only after it is stored."""
        ended_by_silence = state.silence_offer and state.silent_turns > 0
        closing = None
        if state.kind is MessageKind.ESCALATION:
            # Said once the settlement has raised the escalation and queued the call back.
            closing = escalation_recorded(self.message, self.facts)
        decided = self.ask(moved_to(state, StepName.READBACK))
        finish = Finish(is_complete=not ended_by_silence, says=says, escalation_closing=closing)
        return replace(decided, finish=finish)

    def unusable(self, state: FlowState, answer: Answer, give_up: Next, *hint: Say) -> Decision:
        decision = after_unusable_input(state, answer)
        if isinstance(decision, Retry):
            # A specific hint ("unknown customer number") replaces the generic one.
            return self.ask(decision.state, *(hint or decision.says))
        if isinstance(decision, SilenceEnd):
            return self.offer_callback_after_silence(decision.state)
        return give_up(decision.state)

    # -- identification and routing -------------------------------------------------------------

    def on_menu(self, state: FlowState) -> Decision:
        typed = self.answer.typed()
        choice = menu_choice(typed)
        if choice is None:
            return self.unusable(
                state,
                self.answer.judged(typed),
                lambda s: self.ask(moved_to(s, StepName.CUSTOMER_NUMBER)),
            )
        return self.ask(after_valid_input(state, choice))

    def on_customer_number(self, state: FlowState) -> Decision:
        typed = self.answer.typed()
        customer = self.facts.customer if typed else None
        if customer is None or customer.customer_number != typed:
            self.customer = None
            hint = (Say("customer_unknown"),) if typed else ()
            return self.unusable(
                state,
                self.answer.judged(typed),
                lambda s: self.route(s, Say("continue_unidentified"), valid=False),
                *hint,
            )
        self.identified_as = customer.customer_number
        state = replace(
            after_valid_input(state, StepName.PRODUCT_CHOICE), email_on_file=customer.has_email
        )
        if len(customer.products) > 1:
            return self.ask(replace(state, products=customer.products))
        if customer.products:
            self.choose(customer.products[0])
        return self.route(state)

    def on_product_choice(self, state: FlowState) -> Decision:
        product = product_choice(self.answer.typed(), state.products)
        if product is None:

            def first_product(s: FlowState) -> Decision:
                self.choose(s.products[0])
                return self.route(s, valid=False)

            return self.unusable(state, self.answer.judged(self.answer.typed()), first_product)
        self.choose(product)
        return self.route(after_valid_input(state, StepName.AGENT))

    def choose(self, product: str) -> None:
        self.product = product
        self.line_key = self.facts.product_lines.get(product)

    def line(self) -> LineFacts:
        key = self.line_key or self.facts.call_line or self.facts.default_line
        return self.facts.lines[key]

    def route(self, state: FlowState, *says: Say, valid: bool = True) -> Decision:
        """Open lines try an agent; closed lines go straight to the message.

        ``valid``: False after giving up on a step, which keeps counting the silence."""
        line = self.line()
        if line.is_open:
            return self.ask(moved_to(state, StepName.AGENT), *says)
        closed = Say(
            "closed", values={"product": line.name, "hours": line.hours, "promise": line.promise}
        )
        return self.start_message(state, MessageKind.NEW, *says, closed, valid=valid)

    def on_agent(self, state: FlowState) -> Decision:
        outcome = agent_outcome(self.answer.queue_result)
        if outcome is AgentOutcome.TALKED:
            self.outcome = "agent"
            return self.end(state)
        if outcome is AgentOutcome.CALLER_HUNG_UP:
            self.outcome = "abandoned"
            return self.end(state)
        if state.queue_callback:
            intro = Say("callback_keeps_place")
        else:
            intro = Say("agents_busy", values={"promise": self.line().promise})
        return self.start_message(state, MessageKind.NEW, intro)

    def on_sr_lookup(self, state: FlowState) -> Decision:
        typed = self.answer.typed()
        found = self.facts.found_sr if typed else None
        if found is None or found != typed:
            hint = Say("sr_not_found") if is_plausible_sr_number(typed) else Say("sr_invalid")
            return self.unusable(
                state,
                self.answer.judged(typed),
                lambda s: self.ask(moved_to(s, StepName.CUSTOMER_NUMBER), Say("sr_lookup_gave_up")),
                *((hint,) if typed else ()),
            )
        # SR numbers are sequential and easy to guess: quoting one attaches the message to it,
        # but does not identify the caller (entitlement comes from the customer number only).
        state = replace(after_valid_input(state, StepName.SR_ACTION), quoted_sr=found)
        return self.ask(state, Say("sr_found", digits={"sr_number": found}))

    def on_sr_action(self, state: FlowState) -> Decision:
        kind = sr_action_choice(self.answer.typed())
        if kind is None:
            return self.unusable(
                state,
                self.answer.judged(self.answer.typed()),
                lambda s: self.start_message(s, MessageKind.CALLBACK, valid=False),
            )
        return self.start_message(after_valid_input(state, StepName.NAME), kind)

    # -- the message ----------------------------------------------------------------------------

    def open(self, state: FlowState, kind: MessageKind) -> MessageFacts:
        """The call's message, opened with what is already known (company, quoted SR)."""
        self.outcome = "message"
        if self.message is None:
            company = self.customer.company if self.customer is not None else None
            self.opened = OpenMessage(
                kind=kind,
                product_line=self.line().key,
                company=company,
                sr_reference=state.quoted_sr,
                callback_asked_at=state.callback_asked_at,
            )
            self.message = MessageFacts(company=company)
        return self.message

    def start_message(
        self, state: FlowState, kind: MessageKind, *says: Say, valid: bool = True
    ) -> Decision:
        self.open(state, kind)
        return self.next_field(replace(state, kind=kind), None, *says, valid=valid)

    def next_field(
        self, state: FlowState, after: StepName | None, *says: Say, valid: bool = True
    ) -> Decision:
        message = self.message or MessageFacts()
        context = FieldContext(
            kind=state.kind,
            company_known=bool(message.company),
            email_known=state.email_on_file,
        )
        following = next_message_field(after, context)
        if following is None:
            # A valid last answer is no silence: the message is complete and read back.
            return self.finish(replace(state, silent_turns=0) if valid else state, *says)
        moved = after_valid_input(state, following) if valid else moved_to(state, following)
        return self.ask(moved, *says)

    def store(self, **fields: str | float | None) -> None:
        self.fields.update(fields)
        message = self.message or MessageFacts()
        company, number = fields.get("company"), fields.get("callback_number")
        self.message = replace(
            message,
            company=company if isinstance(company, str) else message.company,
            callback_number=number if isinstance(number, str) else message.callback_number,
        )

    def speech_field(self, state: FlowState, name: str) -> Decision:
        text = self.answer.said()
        if text is None:
            return self.unusable(
                state, Answer.NONE, lambda s: self.next_field(s, state.step, valid=False)
            )
        self.store(**{name: text})
        return self.next_field(state, state.step)

    def on_callback_number(self, state: FlowState) -> Decision:
        if state.pending_number is not None:
            return self.on_number_check(state)
        typed = self.answer.typed()
        caller_id = self.facts.caller_id
        if typed == "1" and caller_id is not None:
            self.store(callback_number=caller_id, callback_number_source="caller_id")
            return self.next_field(state, StepName.CALLBACK_NUMBER)
        judged = judge_callback_number(typed, self.facts.numbers)
        if not isinstance(judged, Accepted):
            # A number we will not call is re-asked with the reason, so the caller can give
            # another one (premium-rate, shared-cost, our own, abroad) instead of guessing.
            hint = (refusal_hint(judged.reason),) if typed else ()
            return self.unusable(state, self.answer.judged(typed), self.no_callback_number, *hint)
        if judged.needs_confirmation:
            # "4915112345678" spells a German mobile with its country code and also a landline
            # in Leer: the caller hears the reading and confirms it before it is kept.
            checking = replace(state, pending_number=judged.e164, attempt=1, silent_turns=0)
            return self.ask(checking)
        return self.keep_typed_number(state, judged.e164)

    def on_number_check(self, state: FlowState) -> Decision:
        """The caller's 1 keeps the number read back; 2 types it again (one of the tries)."""
        pending = state.pending_number
        assert pending is not None
        typed = self.answer.typed()
        if typed == "1":
            return self.keep_typed_number(replace(state, pending_number=None), pending)
        if typed == "2":
            again = replace(state, pending_number=None, silent_turns=0)
            return self.unusable(
                again, Answer.INVALID, self.no_callback_number, Say("callback_type_again")
            )
        return self.unusable(state, self.answer.judged(typed), self.no_callback_number)

    def keep_typed_number(self, state: FlowState, number: str) -> Decision:
        self.store(callback_number=number, callback_number_source="typed")
        spoken = spoken_digits(number, country=self.facts.country)
        confirmed = Say("callback_confirmed", digits={"number": spoken})
        return self.next_field(state, StepName.CALLBACK_NUMBER, confirmed)

    def no_callback_number(self, state: FlowState) -> Decision:
        """Three tries without a number we call: the caller ID, if it is one, else none."""
        state = replace(state, pending_number=None)
        caller_id = self.facts.caller_id
        message = self.message
        if caller_id is not None and message is not None and not message.callback_number:
            self.store(callback_number=caller_id, callback_number_source="caller_id")
        if state.silence_offer:
            return self.finish(state)
        return self.next_field(state, StepName.CALLBACK_NUMBER, valid=False)

    def offer_callback_after_silence(self, state: FlowState) -> Decision:
        """Two silent steps: offer a callback on the caller ID, then end within the minute."""
        message = self.open(state, state.kind)
        if message.callback_number:
            # The caller already said where to call them back: end now, keeping that number.
            return self.finish(state, Say("silence_offer"))
        state = replace(state, step=StepName.CALLBACK_NUMBER, attempt=1, pending_number=None)
        return self.ask(state, Say("silence_offer"))

    def on_sr_reference(self, state: FlowState) -> Decision:
        typed = (self.answer.typed() or "").strip("#*") or None
        if typed is None:
            # The hash key alone (or silence) means "no earlier request".
            return self.next_field(state, StepName.SR_REFERENCE)
        if not is_plausible_sr_number(typed):
            return self.unusable(
                state,
                Answer.INVALID,
                lambda s: self.next_field(s, StepName.SR_REFERENCE, valid=False),
                Say("sr_invalid"),
            )
        self.store(sr_reference=typed)
        return self.next_field(state, StepName.SR_REFERENCE)

    def on_consent(self, state: FlowState) -> Decision:
        given = yes_no(self.answer.typed())
        if given is None:

            def declined(s: FlowState) -> Decision:
                # No answer is no consent: audio is never recorded without an active yes.
                self.consent = False
                return self.next_field(s, StepName.CONSENT, valid=False)

            return self.unusable(state, self.answer.judged(self.answer.typed()), declined)
        self.consent = given
        said = Say("consent_given") if given else Say("consent_declined")
        return self.next_field(state, StepName.CONSENT, said)

    def on_description(self, state: FlowState) -> Decision:
        text = self.answer.said()
        if text is None:
            return self.unusable(
                state, Answer.NONE, lambda s: self.next_field(s, StepName.DESCRIPTION, valid=False)
            )
        self.store(description=text, description_confidence=self.answer.confidence)
        return self.next_field(state, StepName.DESCRIPTION)

    def on_answer_channel(self, state: FlowState) -> Decision:
        choice = {"1": "phone", "2": "email"}.get(self.answer.typed() or "")
        if choice is None:
            return self.unusable(
                state,
                self.answer.judged(self.answer.typed()),
                lambda s: self.next_field(s, StepName.ANSWER_CHANNEL, valid=False),
            )
        self.store(answer_channel=choice)
        return self.next_field(state, StepName.ANSWER_CHANNEL)

    def on_readback(self, state: FlowState) -> Decision:
        if self.answer.typed() == "1" and state.readbacks < MAX_READBACKS:
            return self.ask(replace(state, readbacks=state.readbacks + 1, attempt=1))
        return self.end(state, Say("goodbye"))


def after_settling(
    decision: Decision, sr_number: str | None, *, holds_for_duty_manager: bool = False
) -> tuple[FlowState, tuple[Say, ...]]:
    """Where a finishing turn goes once the SR is made (or could not be, for want of a number).

    ``holds_for_duty_manager``: the settlement raised an escalation the caller now holds for
    (``intake.escalation_hold``) instead of hearing the promise and the SR number read back.
    """
    finish = decision.finish
    assert finish is not None
    closing = (finish.escalation_closing,) if finish.escalation_closing is not None else ()
    if holds_for_duty_manager and closing and finish.is_complete and sr_number is not None:
        ringing = Say("escalation_hold_start", digits={"sr_number": sr_number})
        return moved_to(decision.state, StepName.ESCALATION_HOLD), (*finish.says, ringing)
    says = (*finish.says, *closing)
    if sr_number is None:
        return moved_to(decision.state, StepName.END), (*says, Say("no_number_goodbye"))
    if not finish.is_complete:
        number = Say("sr_number", digits={"sr_number": sr_number})
        return moved_to(decision.state, StepName.END), (*says, number, Say("silence_goodbye"))
    return decision.state, says
