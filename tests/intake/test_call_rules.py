"""The rules of a caller's answers: re-prompts, silence, field order, keypad choices; steps as
JSON; SR numbers."""

from __future__ import annotations

import pytest

from intake import call_rules, sr_numbers
from intake.call_rules import AgentOutcome, Answer, FieldContext, GiveUp, Retry, SilenceEnd
from intake.call_steps import MAX_TRIES, FlowState, MessageKind, Say, Step, StepKind, StepName

ALL_KNOWN = FieldContext(kind=MessageKind.NEW, company_known=True, email_known=True)
NOTHING_KNOWN = FieldContext(kind=MessageKind.NEW, company_known=False, email_known=False)


def fields_asked(context: FieldContext) -> list[StepName]:
    asked: list[StepName] = []
    step = call_rules.next_message_field(None, context)
    while step is not None:
        asked.append(step)
        step = call_rules.next_message_field(step, context)
    return asked


# -- re-prompts ------------------------------------------------------------------------------


def test_a_step_is_asked_at_most_three_times_then_given_up():
    state = FlowState(step=StepName.CUSTOMER_NUMBER)
    decisions = []
    for _ in range(MAX_TRIES):
        decision = call_rules.after_unusable_input(state, Answer.INVALID)
        decisions.append(decision)
        if isinstance(decision, Retry):
            state = decision.state
    assert [type(d) for d in decisions] == [Retry, Retry, GiveUp]
    assert [d.state.attempt for d in decisions] == [2, 3, 1]


def test_a_retry_after_silence_says_nothing_was_heard():
    decision = call_rules.after_unusable_input(FlowState(step=StepName.MENU), Answer.NONE)
    assert isinstance(decision, Retry)
    assert decision.says == (Say("no_input"),)
    assert decision.state.silent_turns == 1


def test_a_retry_after_a_wrong_key_says_it_was_not_understood():
    decision = call_rules.after_unusable_input(FlowState(step=StepName.MENU), Answer.INVALID)
    assert isinstance(decision, Retry)
    assert decision.says == (Say("not_understood"),)
    assert decision.state.silent_turns == 0


def test_a_wrong_key_breaks_the_run_of_silence():
    state = FlowState(step=StepName.NAME, attempt=2, silent_turns=4)
    decision = call_rules.after_unusable_input(state, Answer.INVALID)
    assert isinstance(decision, Retry)
    assert decision.state.silent_turns == 0


def test_silence_through_two_whole_steps_ends_in_a_callback_offer():
    state = FlowState(step=StepName.MENU)
    outcomes = []
    for _ in range(2 * MAX_TRIES):
        decision = call_rules.after_unusable_input(state, Answer.NONE)
        outcomes.append(type(decision))
        if isinstance(decision, GiveUp):
            state = call_rules.moved_to(decision.state, StepName.CUSTOMER_NUMBER)
        elif isinstance(decision, Retry):
            state = decision.state
    assert outcomes == [Retry, Retry, GiveUp, Retry, Retry, SilenceEnd]
    assert isinstance(decision, SilenceEnd)
    assert decision.state.silence_offer is True
    assert decision.state.attempt == 1


def test_the_callback_offer_after_silence_is_made_only_once():
    state = FlowState(step=StepName.CALLBACK_NUMBER, attempt=3, silent_turns=8, silence_offer=True)
    decision = call_rules.after_unusable_input(state, Answer.NONE)
    assert isinstance(decision, GiveUp)


def test_a_valid_answer_moves_on_with_fresh_tries_and_no_silence():
    state = FlowState(step=StepName.NAME, attempt=3, silent_turns=2)
    moved = call_rules.after_valid_input(state, StepName.COMPANY)
    assert (moved.step, moved.attempt, moved.silent_turns) == (StepName.COMPANY, 1, 0)


def test_giving_up_on_a_step_keeps_counting_the_silence():
    state = FlowState(step=StepName.NAME, attempt=3, silent_turns=3)
    moved = call_rules.moved_to(state, StepName.COMPANY)
    assert (moved.step, moved.attempt, moved.silent_turns) == (StepName.COMPANY, 1, 3)


# -- message fields ----------------------------------------------------------------------------


def test_a_new_request_asks_every_field_in_the_seed_order():
    assert fields_asked(NOTHING_KNOWN) == [
        StepName.NAME,
        StepName.COMPANY,
        StepName.CALLBACK_NUMBER,
        StepName.SR_REFERENCE,
        StepName.CONSENT,
        StepName.DESCRIPTION,
    ]


def test_a_known_company_is_not_asked_again():
    context = FieldContext(kind=MessageKind.NEW, company_known=True, email_known=False)
    assert StepName.COMPANY not in fields_asked(context)
    assert call_rules.next_message_field(StepName.NAME, context) is StepName.CALLBACK_NUMBER


def test_the_answer_channel_is_asked_only_when_an_email_is_on_file():
    with_email = FieldContext(kind=MessageKind.NEW, company_known=True, email_known=True)
    assert fields_asked(with_email)[-1] is StepName.ANSWER_CHANNEL
    assert StepName.ANSWER_CHANNEL not in fields_asked(NOTHING_KNOWN)


@pytest.mark.parametrize("kind", [MessageKind.UPDATE, MessageKind.CALLBACK])
def test_a_message_on_an_existing_request_skips_the_sr_reference(kind):
    context = FieldContext(kind=kind, company_known=False, email_known=False)
    assert StepName.SR_REFERENCE not in fields_asked(context)
    assert call_rules.next_message_field(StepName.CALLBACK_NUMBER, context) is StepName.CONSENT


def test_consent_is_asked_right_before_the_description():
    asked = fields_asked(ALL_KNOWN)
    assert asked.index(StepName.CONSENT) + 1 == asked.index(StepName.DESCRIPTION)


def test_there_is_no_field_after_the_last_one():
    assert call_rules.next_message_field(StepName.ANSWER_CHANNEL, ALL_KNOWN) is None
    assert call_rules.next_message_field(StepName.DESCRIPTION, NOTHING_KNOWN) is None


# -- keypad choices ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("1", StepName.CUSTOMER_NUMBER),
        ("2", StepName.SR_LOOKUP),
        ("3", StepName.ESCALATION_SR),
        ("4", None),
        ("", None),
        (None, None),
        ("12", None),
    ],
)
def test_menu_keys_choose_new_request_existing_request_or_escalation(digits, expected):
    assert call_rules.menu_choice(digits) is expected


@pytest.mark.parametrize(
    ("digits", "expected"),
    [("1", "vSphere"), ("2", "Workstation"), ("0", None), ("3", None), ("x", None), (None, None)],
)
def test_product_keys_are_one_based(digits, expected):
    assert call_rules.product_choice(digits, ("vSphere", "Workstation")) == expected


@pytest.mark.parametrize(
    ("digits", "expected"), [("1", True), ("2", False), ("3", None), ("", None), (None, None)]
)
def test_one_is_yes_and_two_is_no(digits, expected):
    assert call_rules.yes_no(digits) is expected


@pytest.mark.parametrize(
    ("digits", "expected"),
    [("1", MessageKind.UPDATE), ("2", MessageKind.CALLBACK), ("3", None), (None, None)],
)
def test_existing_request_keys_choose_update_or_callback(digits, expected):
    assert call_rules.sr_action_choice(digits) is expected


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ("bridged", AgentOutcome.TALKED),
        ("hangup", AgentOutcome.CALLER_HUNG_UP),
        ("leave", AgentOutcome.NO_AGENT),
        ("queue-full", AgentOutcome.NO_AGENT),
        ("redirected", AgentOutcome.NO_AGENT),
        ("error", AgentOutcome.NO_AGENT),
        ("system-error", AgentOutcome.NO_AGENT),
        (None, AgentOutcome.NO_AGENT),
    ],
)
def test_queue_results_are_judged(result, expected):
    assert call_rules.agent_outcome(result) is expected


# -- SR numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize("sequence", [1, 2, 99, 8_999_999, 123_456_789])
def test_sr_numbers_are_at_least_eight_digits_and_pass_their_own_check(sequence):
    number = sr_numbers.sr_number_for(sequence)
    assert number.isdigit()
    assert len(number) >= 8
    assert sr_numbers.is_plausible_sr_number(number)


def test_sr_numbers_are_distinct_for_distinct_sequences():
    numbers = {sr_numbers.sr_number_for(n) for n in range(1, 5000)}
    assert len(numbers) == 4999


def test_the_first_sr_number_has_its_luhn_check_digit():
    # Body 1000001: both 1s are doubled (2 + 2 = 4), so the check digit is 10 - 4 = 6.
    assert sr_numbers.sr_number_for(1) == "10000016"


def test_every_single_digit_typo_is_rejected():
    number = sr_numbers.sr_number_for(4711)
    for position, original in enumerate(number):
        for digit in "0123456789":
            if digit == original:
                continue
            typo = number[:position] + digit + number[position + 1 :]
            assert not sr_numbers.is_plausible_sr_number(typo), typo


def test_swapped_neighbouring_digits_are_rejected():
    number = sr_numbers.sr_number_for(1234)
    swaps = []
    for i in range(len(number) - 1):
        a, b = number[i], number[i + 1]
        # Luhn cannot see a swap of equal digits, nor of 0 and 9.
        if a == b or {a, b} == {"0", "9"}:
            continue
        swaps.append(number[:i] + b + a + number[i + 2 :])
    assert swaps
    assert not any(sr_numbers.is_plausible_sr_number(s) for s in swaps)


@pytest.mark.parametrize("typed", [None, "", "1000001", "10000O16", "1000 0016", "#"])
def test_short_or_non_digit_input_is_not_an_sr_number(typed):
    assert not sr_numbers.is_plausible_sr_number(typed)


# -- steps and state as stored ------------------------------------------------------------------


def test_a_step_survives_its_json_form():
    step = Step(
        StepName.READBACK,
        StepKind.DIGITS,
        (Say("sr_number", digits={"sr_number": "10000016"}), Say("readback_menu")),
        num_digits=1,
        start_recording=True,
        submit_empty=True,
        long_speech=True,
    )
    assert Step.from_json(step.to_json()) == step


def test_a_flow_state_survives_its_json_form():
    state = FlowState(
        step=StepName.PRODUCT_CHOICE,
        attempt=2,
        silent_turns=1,
        kind=MessageKind.CALLBACK,
        readbacks=1,
        silence_offer=True,
        products=("vSphere", "Workstation"),
        quoted_sr="10000016",
        queue_callback=True,
    )
    assert FlowState.from_json(state.to_json()) == state


def test_an_empty_flow_is_a_new_call_at_the_menu():
    assert FlowState.from_json({}) == FlowState(step=StepName.MENU)
