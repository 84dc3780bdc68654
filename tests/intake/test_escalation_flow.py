"""The escalation steps as a table, in the style of ``test_call_flow``: (state, answer, facts)
-> decision for every escalation step, valid, invalid and silent; then walks through a whole
escalation, a severity raise and an SR never found."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from intake.call_facts import CallerAnswer, Decision, Facts, Finish, MessageFacts, RaiseSeverity
from intake.call_flow import decide
from intake.call_rules import ESCALATION_REASONS
from intake.call_steps import MAX_TRIES, SILENCE_LIMIT, FlowState, MessageKind, Say, StepName
from intake.escalation_flow import needs_only_a_severity_raise
from tests.intake.test_call_flow import (
    BY_CALLER_ID,
    CALLER_ID,
    ESCALATION_STEPS,
    NOT_AN_SR,
    NOTHING_STORED,
    OTHER_SR,
    SILENCE,
    SR,
    at,
    case,
    facts,
    keys,
    opened,
    seen,
    turn,
)

PROMISE = "15 Minuten"
ESCALATING = facts(escalation_promise=PROMISE)
IN_ESCALATION = replace(ESCALATING, message=MessageFacts())
WITHHELD = replace(IN_ESCALATION, caller_id=None)
KIND = MessageKind.ESCALATION


def checked(**changes: Any) -> FlowState:
    """At the impact check: the SR confirmed and the reason given."""
    return at("impact_check", quoted_sr=SR, escalation_reason="production_down", **changes)


def urgency(impact: bool | None, **changes: Any) -> FlowState:
    return at(
        "urgency_check",
        quoted_sr=SR,
        escalation_reason="production_down",
        impact_as_recorded=impact,
        **changes,
    )


def offered(**changes: Any) -> FlowState:
    return at(
        "severity_offer",
        quoted_sr=SR,
        escalation_reason="business_impact",
        impact_as_recorded=False,
        urgency_changed=True,
        **changes,
    )


ESCALATION_OPENED = {
    "step": "callback_number",
    "kind": KIND,
    "outcome": "escalation",
    "open_message": opened("escalation", sr=SR),
}
SR_GAVE_UP = {
    "step": "name",
    "says": ("escalation_sr_gave_up",),
    "kind": MessageKind.NEW,
    "outcome": "message",
    "open_message": opened(),
    "quoted_sr": None,
    "pending_sr": None,
}


def recorded(*says: Say, number: bool = True) -> Finish:
    last = (
        Say("escalation_recorded", values={"promise": PROMISE})
        if number
        else Say("escalation_recorded_no_number")
    )
    return Finish(is_complete=True, says=says, escalation_closing=last)


# fmt: off
CASES = [
    # -- the menu's key 3
    case("menu-3-asks-sr-to-escalate", at("menu"), keys("3"), facts(), step="escalation_sr"),
    # -- the SR: found -> read back; not found -> two more tries, then a message
    case("sr-found-is-read-back", at("escalation_sr"), keys(SR), facts(found_sr=SR),
         step="escalation_sr", pending_sr=SR, quoted_sr=None),
    case("sr-found-on-last-try-gets-fresh-tries", at("escalation_sr", attempt=3, silent_turns=1),
         keys(SR), facts(found_sr=SR), step="escalation_sr", pending_sr=SR, silent_turns=0),
    case("sr-us-government-line-keeps-its-mark", at("escalation_sr", is_us_government=True),
         keys(SR), facts(found_sr=SR), step="escalation_sr", pending_sr=SR,
         is_us_government=True),
    case("sr-plausible-not-found", at("escalation_sr"), keys(OTHER_SR), facts(),
         step="escalation_sr", attempt=2, says=("sr_not_found",), pending_sr=None),
    case("sr-found-other-than-typed", at("escalation_sr"), keys(OTHER_SR), facts(found_sr=SR),
         step="escalation_sr", attempt=2, says=("sr_not_found",)),
    case("sr-check-digit-wrong-is-invalid", at("escalation_sr"), keys(NOT_AN_SR), facts(),
         step="escalation_sr", attempt=2, says=("sr_invalid",)),
    case("sr-silence", at("escalation_sr"), SILENCE, facts(), step="escalation_sr", attempt=2,
         says=("no_input",), silent_turns=1),
    case("sr-third-unknown-leaves-a-message", at("escalation_sr", attempt=3), keys(OTHER_SR),
         facts(), **SR_GAVE_UP),
    case("sr-third-silence-leaves-a-message", at("escalation_sr", attempt=3, silent_turns=2),
         SILENCE, facts(), silent_turns=3, **SR_GAVE_UP),
    # -- the read-back: 1 right, 2 type again (one of the tries)
    case("sr-check-1-confirms", at("escalation_sr", pending_sr=SR), keys("1"), facts(),
         step="escalation_reason", quoted_sr=SR, pending_sr=None),
    case("sr-check-2-types-again", at("escalation_sr", pending_sr=SR), keys("2"), facts(),
         step="escalation_sr", attempt=2, pending_sr=None, says=("escalation_sr_type_again",)),
    case("sr-check-wrong-key", at("escalation_sr", pending_sr=SR), keys("7"), facts(),
         step="escalation_sr", attempt=2, pending_sr=SR, says=("not_understood",)),
    case("sr-check-silence", at("escalation_sr", pending_sr=SR), SILENCE, facts(),
         step="escalation_sr", attempt=2, pending_sr=SR, says=("no_input",)),
    case("sr-check-2-on-last-try-leaves-a-message",
         at("escalation_sr", attempt=3, pending_sr=SR), keys("2"), facts(), **SR_GAVE_UP),
    case("sr-check-third-silence-leaves-a-message",
         at("escalation_sr", attempt=3, pending_sr=SR), SILENCE, facts(), silent_turns=1,
         **SR_GAVE_UP),
    # -- the reason: keys 1-4; giving up escalates for "other"
    *(case(f"reason-{key}-{reason}", at("escalation_reason", quoted_sr=SR), keys(key), facts(),
           step="impact_check", escalation_reason=reason)
      for key, reason in ESCALATION_REASONS.items()),
    case("reason-wrong-key", at("escalation_reason", quoted_sr=SR), keys("5"), facts(),
         step="escalation_reason", attempt=2, says=("not_understood",), escalation_reason=None),
    case("reason-silence", at("escalation_reason", quoted_sr=SR), SILENCE, facts(),
         step="escalation_reason", attempt=2, says=("no_input",)),
    case("reason-third-try-is-other", at("escalation_reason", attempt=3, quoted_sr=SR),
         keys("9"), facts(), step="impact_check", escalation_reason="other"),
    # -- is the business impact still as recorded? 1 yes, 2 no
    case("impact-1-as-recorded", checked(), keys("1"), facts(), step="urgency_check",
         impact_as_recorded=True),
    case("impact-2-not-as-recorded", checked(), keys("2"), facts(), step="urgency_check",
         impact_as_recorded=False),
    case("impact-wrong-key", checked(), keys("3"), facts(), step="impact_check", attempt=2,
         says=("not_understood",), impact_as_recorded=None),
    case("impact-silence", checked(), SILENCE, facts(), step="impact_check", attempt=2,
         says=("no_input",)),
    case("impact-third-try-unanswered", checked(attempt=3), SILENCE, facts(),
         step="urgency_check", impact_as_recorded=None, silent_turns=1),
    # -- has the urgency changed? then: the severity offer when the impact changed, else escalate
    case("urgency-changed-impact-as-recorded-escalates", urgency(True), keys("1"), ESCALATING,
         urgency_changed=True, **ESCALATION_OPENED),
    case("urgency-same-impact-as-recorded-escalates", urgency(True), keys("2"), ESCALATING,
         urgency_changed=False, **ESCALATION_OPENED),
    case("urgency-changed-impact-changed-offers-severity", urgency(False), keys("1"),
         ESCALATING, step="severity_offer", urgency_changed=True),
    case("urgency-same-impact-changed-offers-severity", urgency(False), keys("2"), ESCALATING,
         step="severity_offer", urgency_changed=False),
    case("urgency-impact-unanswered-escalates", urgency(None), keys("1"), ESCALATING,
         urgency_changed=True, **ESCALATION_OPENED),
    case("urgency-wrong-key", urgency(True), keys("4"), ESCALATING, step="urgency_check",
         attempt=2, says=("not_understood",), urgency_changed=None),
    case("urgency-silence", urgency(True), SILENCE, ESCALATING, step="urgency_check", attempt=2,
         says=("no_input",)),
    case("urgency-third-try-impact-changed-offers-severity", urgency(False, attempt=3),
         keys("4"), ESCALATING, step="severity_offer", urgency_changed=None),
    case("urgency-third-try-impact-as-recorded-escalates", urgency(True, attempt=3), keys("4"),
         ESCALATING, urgency_changed=None, **ESCALATION_OPENED),
    # -- the severity offer: 1 raises the severity (no escalation), 2 or no answer escalates
    case("severity-1-raises-severity-and-ends", offered(), keys("1"), ESCALATING, step="end",
         says=(Say("escalation_severity_raised", digits={"sr_number": SR}), "goodbye"),
         outcome="severity_raise",
         severity_raise=RaiseSeverity(SR, reason="business_impact", urgency_changed=True)),
    case("severity-2-escalates-anyway", offered(), keys("2"), ESCALATING, severity_raise=None,
         **ESCALATION_OPENED),
    case("severity-wrong-key", offered(), keys("3"), ESCALATING, step="severity_offer",
         attempt=2, says=("not_understood",)),
    case("severity-silence", offered(), SILENCE, ESCALATING, step="severity_offer", attempt=2,
         says=("no_input",)),
    case("severity-third-try-escalates", offered(attempt=3), SILENCE, ESCALATING,
         silent_turns=1, **ESCALATION_OPENED),
    # -- the escalation's message: only the callback number, then the escalation is recorded
    case("escalation-callback-1-takes-caller-id-and-finishes",
         at("callback_number", kind=KIND, quoted_sr=SR), keys("1"), IN_ESCALATION,
         step="readback", fields=BY_CALLER_ID, finish=recorded()),
    case("escalation-callback-typed-is-confirmed-and-finishes",
         at("callback_number", kind=KIND, quoted_sr=SR), keys("030123456"), IN_ESCALATION,
         step="readback", fields={"callback_number": "+4930123456",
                                  "callback_number_source": "typed"},
         finish=recorded(Say("callback_confirmed", digits={"number": "030123456"}))),
    case("escalation-callback-third-try-takes-caller-id",
         at("callback_number", kind=KIND, quoted_sr=SR, attempt=3), keys("12"), IN_ESCALATION,
         step="readback", fields=BY_CALLER_ID, finish=recorded()),
    case("escalation-withheld-number-is-told-the-managers-know",
         at("callback_number", kind=KIND, quoted_sr=SR, attempt=3), keys("12"), WITHHELD,
         step="readback", finish=recorded(number=False)),
    case("escalation-callback-silence-asks-again",
         at("callback_number", kind=KIND, quoted_sr=SR), SILENCE, IN_ESCALATION,
         step="callback_number", attempt=2, says=("no_input",)),
    # -- the hold for a duty manager has a webhook of its own: a voice turn there says goodbye
    case("escalation-hold-voice-turn-says-goodbye", at("escalation_hold", kind=KIND, quoted_sr=SR),
         keys("1"), IN_ESCALATION, step="end", says=("goodbye",)),
]
# fmt: on


@pytest.mark.parametrize(("state", "answer", "facts_", "expect"), CASES)
def test_an_escalation_turn_decides_the_next_step_and_what_is_stored(
    state: FlowState, answer: CallerAnswer, facts_: Facts, expect: dict[str, Any]
) -> None:
    expected = {**NOTHING_STORED, "severity_raise": None, **expect}
    expected["says"] = tuple(Say(s) if isinstance(s, str) else s for s in expected["says"])
    assert seen(decide(state, answer, facts_), list(expected)) == expected


def test_the_table_covers_every_escalation_step() -> None:
    assert {c.values[0].step for c in CASES} >= ESCALATION_STEPS


# fmt: off
SEVERITY_RULE = [
    pytest.param(True, True, False, id="impact-as-recorded-urgency-changed-escalates"),
    pytest.param(True, False, False, id="impact-as-recorded-urgency-same-escalates"),
    pytest.param(False, True, True, id="impact-changed-urgency-changed-offers-raise"),
    pytest.param(False, False, True, id="impact-changed-urgency-same-offers-raise"),
    pytest.param(False, None, True, id="impact-changed-urgency-unanswered-offers-raise"),
    pytest.param(None, True, False, id="impact-unanswered-escalates"),
]
# fmt: on


@pytest.mark.parametrize(("impact", "urgency_changed", "offered_"), SEVERITY_RULE)
def test_a_severity_raise_is_offered_only_when_the_business_impact_is_no_longer_as_recorded(
    impact: bool | None, urgency_changed: bool | None, offered_: bool
) -> None:
    state = FlowState(impact_as_recorded=impact, urgency_changed=urgency_changed)
    assert needs_only_a_severity_raise(state) is offered_


# -- walks --------------------------------------------------------------------------------------


def walk(state: FlowState, answers: list[CallerAnswer], base: Facts) -> list[Decision]:
    decisions = []
    for answer in answers:
        decision, base = turn(state, answer, base)
        state = decision.state
        decisions.append(decision)
    return decisions


def test_an_escalation_from_the_menu_asks_sr_reason_checks_and_callback_number() -> None:
    decisions = walk(
        at("menu"),
        [keys("3"), keys(SR), keys("1"), keys("2"), keys("1"), keys("2"), keys("1")],
        facts(found_sr=SR, escalation_promise=PROMISE),
    )
    assert [d.state.step.value for d in decisions] == [
        "escalation_sr",
        "escalation_sr",  # read back
        "escalation_reason",
        "impact_check",
        "urgency_check",
        "callback_number",
        "readback",
    ]
    last = decisions[-1]
    assert last.state.kind is MessageKind.ESCALATION
    assert (last.state.quoted_sr, last.state.escalation_reason) == (SR, "business_impact")
    assert (last.state.impact_as_recorded, last.state.urgency_changed) == (True, False)
    assert last.fields == BY_CALLER_ID
    assert last.finish == recorded()


def test_an_sr_never_found_leaves_a_message_that_asks_for_the_sr_reference() -> None:
    decisions = walk(at("escalation_sr"), [keys(OTHER_SR)] * MAX_TRIES, facts())
    assert [d.state.step.value for d in decisions] == ["escalation_sr"] * 2 + ["name"]
    decisions = walk(
        decisions[-1].state,
        [CallerAnswer(speech="Erika"), CallerAnswer(speech="ACME"), keys("1")],
        replace(facts(), message=MessageFacts()),
    )
    # A new request's message: the caller may quote the SR they could not escalate.
    assert decisions[-1].state.step is StepName.SR_REFERENCE


def test_a_silent_escalating_caller_is_offered_a_callback_once() -> None:
    state = at("escalation_reason", quoted_sr=SR, attempt=MAX_TRIES)
    state = replace(state, silent_turns=SILENCE_LIMIT - 1)
    decision = decide(state, SILENCE, ESCALATING)
    assert decision.state.step is StepName.CALLBACK_NUMBER
    assert decision.state.silence_offer
    assert [s.key for s in decision.says] == ["silence_offer"]
    # The quoted SR goes with the message the silence leaves: the caller is called back on it.
    assert decision.open_message is not None
    assert decision.open_message.sr_reference == SR
    assert CALLER_ID  # offered as the number by the question
