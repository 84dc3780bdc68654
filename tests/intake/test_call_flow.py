"""The call flow as a table: (state, answer, facts) -> decision, for every step of the caller's
journey; then short walks (silence, field order, read-back) and what follows a finished message."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from intake.call_facts import (
    CallerAnswer,
    CustomerFacts,
    Decision,
    Facts,
    Finish,
    LineFacts,
    MessageFacts,
    OpenMessage,
)
from intake.call_flow import after_settling, decide
from intake.call_steps import (
    MAX_READBACKS,
    MAX_TRIES,
    SILENCE_LIMIT,
    FlowState,
    MessageKind,
    Say,
    StepName,
)
from intake.number_policy import NumberPolicy
from intake.sr_numbers import sr_number_for

DATACENTER = LineFacts("datacenter", "vSphere and all other products", True, "", "30 Minuten")
DESKTOP = LineFacts(
    "desktop", "Workstation and Fusion", False, "montags bis freitags", "24 Stunden"
)
CALLER_ID = "+4915112345678"
SR = sr_number_for(1)  # a plausible SR number (check digit right)
OTHER_SR = sr_number_for(2)
NOT_AN_SR = SR[:-1] + str((int(SR[-1]) + 1) % 10)  # wrong check digit
ASKED_AT = datetime(2026, 11, 25, 10, 5, tzinfo=UTC)

BOTH = ("vSphere", "Fusion")
ACME = CustomerFacts("4711", "ACME GmbH", has_email=True, products=BOTH)
DC_ONLY = CustomerFacts("4712", "Rechenzentrum AG", has_email=False, products=("vSphere",))
DESKTOP_ONLY = CustomerFacts("4713", "Praxis Dr. Weber", has_email=False, products=("Fusion",))
NO_PRODUCTS = CustomerFacts("4714", "Neukunde KG", has_email=False, products=())


HOTLINES = frozenset({"+498001006711", "+18005550199"})
GERMANY = NumberPolicy("DE", frozenset({"DE"}), frozenset({"DE"}), HOTLINES)
GERMANY_AND_UK = replace(GERMANY, callback_countries=frozenset({"DE", "GB"}))


def facts(**changes: Any) -> Facts:
    """The German hotline's facts at a turn; the data-center line is open, desktop is closed."""
    base = Facts(
        country="DE",
        numbers=GERMANY,
        default_line="datacenter",
        call_line=None,
        consent_prompt_version="de-DE-test",
        lines={"datacenter": DATACENTER, "desktop": DESKTOP},
        caller_id=CALLER_ID,
        product_lines={"vSphere": "datacenter", "Fusion": "desktop"},
    )
    return replace(base, **changes)


IN_MESSAGE = facts(message=MessageFacts())
UK_TOO = facts(numbers=GERMANY_AND_UK, message=MessageFacts())
COMPANY_KNOWN = facts(message=MessageFacts(company="ACME GmbH"))
SILENCE = CallerAnswer(is_silence=True)


def at(step: str, **changes: Any) -> FlowState:
    return FlowState(step=StepName(step), **changes)


def keys(digits: str) -> CallerAnswer:
    return CallerAnswer(digits=digits)


def said(text: str, confidence: float = 0.9) -> CallerAnswer:
    return CallerAnswer(speech=text, confidence=confidence)


def queue(result: str) -> CallerAnswer:
    return CallerAnswer(queue_result=result)


def closed(ln: LineFacts) -> Say:
    return Say("closed", values={"product": ln.name, "hours": ln.hours, "promise": ln.promise})


def opened(
    kind: str = "new",
    line: str = "datacenter",
    company: str | None = None,
    sr: str | None = None,
    asked_at: datetime | None = None,
) -> OpenMessage:
    return OpenMessage(MessageKind(kind), line, company, sr, asked_at)


def done(*says: str, complete: bool = True) -> Finish:
    return Finish(is_complete=complete, says=tuple(Say(s) for s in says))


BY_CALLER_ID = {"callback_number": CALLER_ID, "callback_number_source": "caller_id"}


def case(name: str, state: FlowState, answer: CallerAnswer, facts_: Facts, **expect: Any) -> Any:
    return pytest.param(state, answer, facts_, expect, id=name)


# What a row expects unless it says otherwise: the first try, nothing said, nothing stored.
NOTHING_STORED: dict[str, Any] = dict.fromkeys(
    ("identified_as", "product", "product_line", "outcome", "open_message", "consent", "finish")
) | {"attempt": 1, "says": (), "fields": {}}
STATE_FIELDS = {f.name for f in fields(FlowState)}


def seen(decision: Decision, names: list[str]) -> dict[str, Any]:
    """The named parts of a decision; state fields are read from its next state."""
    return {n: getattr(decision.state if n in STATE_FIELDS else decision, n) for n in names}


# fmt: off
CASES = [
    # -- menu: 1 new request, 2 existing SR; giving up assumes a new request
    case("menu-1-asks-customer-number", at("menu"), keys("1"), facts(), step="customer_number"),
    case("menu-2-asks-sr-number", at("menu"), keys("2"), facts(), step="sr_lookup"),
    case("menu-wrong-key-is-not-understood", at("menu"), keys("7"), facts(),
         step="menu", attempt=2, says=("not_understood",), silent_turns=0),
    case("menu-silence-is-asked-again", at("menu"), SILENCE, facts(),
         step="menu", attempt=2, says=("no_input",), silent_turns=1),
    case("menu-answer-ends-the-silence", at("menu", attempt=3, silent_turns=2), keys("1"), facts(),
         step="customer_number", silent_turns=0),
    case("menu-third-try-assumes-new-request", at("menu", attempt=3, silent_turns=2), SILENCE,
         facts(), step="customer_number", silent_turns=3),
    # -- customer number: identifies the caller; products offered when more than one
    case("customer-with-two-products-chooses-product", at("customer_number"), keys("4711"),
         facts(customer=ACME), step="product_choice", identified_as="4711",
         products=BOTH, email_on_file=True),
    case("customer-with-one-open-product-goes-to-agent", at("customer_number"), keys("4712"),
         facts(customer=DC_ONLY), step="agent", identified_as="4712", product="vSphere",
         product_line="datacenter", email_on_file=False, products=()),
    case("customer-with-one-closed-product-leaves-message", at("customer_number"), keys("4713"),
         facts(customer=DESKTOP_ONLY), step="name", says=(closed(DESKTOP),), identified_as="4713",
         product="Fusion", product_line="desktop", outcome="message",
         open_message=opened(line="desktop", company="Praxis Dr. Weber")),
    case("customer-without-products-routes-by-call-line", at("customer_number"), keys("4714"),
         facts(customer=NO_PRODUCTS, call_line="desktop"), step="name", says=(closed(DESKTOP),),
         identified_as="4714", outcome="message",
         open_message=opened(line="desktop", company="Neukunde KG")),
    case("unknown-customer-number-is-named", at("customer_number"), keys("999"), facts(),
         step="customer_number", attempt=2, says=("customer_unknown",)),
    case("another-customers-facts-do-not-identify", at("customer_number"), keys("4712"),
         facts(customer=ACME), step="customer_number", attempt=2, says=("customer_unknown",)),
    case("customer-number-silence", at("customer_number"), SILENCE, facts(),
         step="customer_number", attempt=2, says=("no_input",)),
    case("customer-number-third-try-continues-to-agent", at("customer_number", attempt=3),
         keys("999"), facts(), step="agent", says=("continue_unidentified",)),
    case("customer-number-third-try-closed-line-message",
         at("customer_number", attempt=3), keys("999"), facts(default_line="desktop"),
         step="name", says=("continue_unidentified", closed(DESKTOP)), outcome="message",
         open_message=opened(line="desktop")),
    # -- product choice: 1-based keys in menu order; giving up takes the first product
    case("product-key-1-open-line-goes-to-agent", at("product_choice", products=BOTH),
         keys("1"), facts(), step="agent", product="vSphere", product_line="datacenter"),
    case("product-key-2-closed-line-leaves-message",
         at("product_choice", products=BOTH, email_on_file=True), keys("2"),
         facts(customer=ACME), step="name", says=(closed(DESKTOP),), product="Fusion",
         product_line="desktop", outcome="message", email_on_file=True,
         open_message=opened(line="desktop", company="ACME GmbH")),
    case("product-key-out-of-range", at("product_choice", products=BOTH),
         keys("3"), facts(), step="product_choice", attempt=2, says=("not_understood",)),
    case("product-silence", at("product_choice", products=BOTH), SILENCE,
         facts(), step="product_choice", attempt=2, says=("no_input",)),
    case("product-third-try-takes-first-product",
         at("product_choice", attempt=3, products=BOTH), keys("9"), facts(),
         step="agent", product="vSphere", product_line="datacenter"),
    # -- agent: talked, hung up, or no agent -> a message with the line's promise
    case("agent-bridged-ends-call", at("agent"), queue("bridged"), facts(), step="end",
         outcome="agent"),
    case("agent-hangup-is-abandoned", at("agent"), queue("hangup"), facts(), step="end",
         outcome="abandoned"),
    case("agent-leave-takes-message", at("agent"), queue("leave"), facts(), step="name",
         says=(Say("agents_busy", values={"promise": "30 Minuten"}),), outcome="message",
         open_message=opened(), kind="new"),
    case("agent-queue-full-takes-message", at("agent"), queue("queue-full"), facts(),
         step="name", says=(Say("agents_busy", values={"promise": "30 Minuten"}),),
         outcome="message", open_message=opened()),
    case("agent-identified-caller-company-known",
         at("agent", email_on_file=True), queue("leave"),
         facts(customer=ACME, call_line="datacenter"), step="name",
         says=(Say("agents_busy", values={"promise": "30 Minuten"}),), outcome="message",
         open_message=opened(company="ACME GmbH"), email_on_file=True),
    case("agent-hold-key-keeps-place",
         at("agent", queue_callback=True, callback_asked_at=ASKED_AT), queue("leave"), facts(),
         step="name", says=("callback_keeps_place",), outcome="message",
         open_message=opened(asked_at=ASKED_AT)),
    # -- SR look-up: a found SR is quoted, but identifies nobody
    case("sr-found-is-quoted-not-identifying", at("sr_lookup"), keys(SR), facts(found_sr=SR),
         step="sr_action", says=(Say("sr_found", digits={"sr_number": SR}),), quoted_sr=SR,
         identified_as=None, email_on_file=False),
    case("sr-plausible-not-found", at("sr_lookup"), keys(OTHER_SR), facts(), step="sr_lookup",
         attempt=2, says=("sr_not_found",), quoted_sr=None),
    case("sr-found-other-than-typed", at("sr_lookup"), keys(OTHER_SR), facts(found_sr=SR),
         step="sr_lookup", attempt=2, says=("sr_not_found",)),
    case("sr-check-digit-wrong-is-invalid", at("sr_lookup"), keys(NOT_AN_SR), facts(),
         step="sr_lookup", attempt=2, says=("sr_invalid",)),
    case("sr-lookup-silence", at("sr_lookup"), SILENCE, facts(), step="sr_lookup", attempt=2,
         says=("no_input",)),
    case("sr-lookup-third-try-becomes-new-request", at("sr_lookup", attempt=3), keys("12"),
         facts(), step="customer_number", says=("sr_lookup_gave_up",), quoted_sr=None),
    # -- SR action: 1 update, 2 callback; giving up asks for a callback
    case("sr-action-1-leaves-update", at("sr_action", quoted_sr=SR), keys("1"), facts(),
         step="name", kind="update", outcome="message", open_message=opened("update", sr=SR)),
    case("sr-action-2-asks-callback", at("sr_action", quoted_sr=SR), keys("2"), facts(),
         step="name", kind="callback", outcome="message", open_message=opened("callback", sr=SR)),
    case("sr-action-wrong-key", at("sr_action", quoted_sr=SR), keys("5"), facts(),
         step="sr_action", attempt=2, says=("not_understood",)),
    case("sr-action-silence", at("sr_action", quoted_sr=SR), SILENCE, facts(),
         step="sr_action", attempt=2, says=("no_input",)),
    case("sr-action-third-try-asks-callback", at("sr_action", attempt=3, quoted_sr=SR),
         keys("5"), facts(), step="name", kind="callback", outcome="message",
         open_message=opened("callback", sr=SR)),
    # -- name and company: speech; giving up moves on without the field
    case("name-said-asks-company", at("name"), said("Erika Mustermann"), IN_MESSAGE,
         step="company", fields={"contact_name": "Erika Mustermann"}),
    case("name-said-company-known-asks-number", at("name"), said("Erika"), COMPANY_KNOWN,
         step="callback_number", fields={"contact_name": "Erika"}),
    case("name-silence", at("name"), SILENCE, IN_MESSAGE, step="name", attempt=2,
         says=("no_input",), silent_turns=1),
    case("name-blank-speech-counts-as-silence", at("name"), said("  "), IN_MESSAGE, step="name",
         attempt=2, says=("no_input",), silent_turns=1),
    case("name-third-try-moves-on-keeping-silence", at("name", attempt=3, silent_turns=2),
         SILENCE, IN_MESSAGE, step="company", silent_turns=3),
    case("company-said-asks-number", at("company"), said("ACME GmbH"), IN_MESSAGE,
         step="callback_number", fields={"company": "ACME GmbH"}),
    case("company-silence", at("company"), SILENCE, IN_MESSAGE, step="company", attempt=2,
         says=("no_input",)),
    case("company-third-try-asks-number", at("company", attempt=3, silent_turns=2), SILENCE,
         IN_MESSAGE, step="callback_number", silent_turns=3),
    # -- callback number: 1 takes the caller ID; a typed number is confirmed digit by digit
    case("callback-1-takes-caller-id", at("callback_number"), keys("1"), IN_MESSAGE,
         step="sr_reference", fields=BY_CALLER_ID),
    case("callback-typed-national-confirmed", at("callback_number"), keys("030123456"),
         IN_MESSAGE, step="sr_reference",
         says=(Say("callback_confirmed", digits={"number": "030123456"}),),
         fields={"callback_number": "+4930123456", "callback_number_source": "typed"}),
    case("callback-typed-00-prefix-confirmed", at("callback_number"), keys("004930123456"),
         IN_MESSAGE, step="sr_reference",
         says=(Say("callback_confirmed", digits={"number": "030123456"}),),
         fields={"callback_number": "+4930123456", "callback_number_source": "typed"}),
    case("callback-typed-foreign-spoken-international", at("callback_number"),
         keys("00442079460958"), UK_TOO, step="sr_reference",
         says=(Say("callback_confirmed", digits={"number": "+442079460958"}),),
         fields={"callback_number": "+442079460958", "callback_number_source": "typed"}),
    case("callback-update-skips-sr-reference", at("callback_number", kind=MessageKind.UPDATE),
         keys("1"), IN_MESSAGE, step="consent", fields=BY_CALLER_ID),
    case("callback-1-without-caller-id-is-invalid", at("callback_number"), keys("1"),
         facts(caller_id=None, message=MessageFacts()), step="callback_number", attempt=2,
         says=("callback_invalid",)),
    case("callback-too-short-is-invalid", at("callback_number"), keys("12"), IN_MESSAGE,
         step="callback_number", attempt=2, says=("callback_invalid",)),
    case("callback-silence", at("callback_number"), SILENCE, IN_MESSAGE, step="callback_number",
         attempt=2, says=("no_input",)),
    case("callback-third-try-stores-caller-id", at("callback_number", attempt=3), keys("12"),
         IN_MESSAGE, step="sr_reference", fields=BY_CALLER_ID),
    case("callback-third-try-withheld-stores-nothing", at("callback_number", attempt=3),
         SILENCE, facts(caller_id=None, message=MessageFacts()), step="sr_reference"),
    # -- callback number: only numbers the region calls, re-asked with the reason
    case("callback-premium-rate-refused", at("callback_number"), keys("09001234567"),
         IN_MESSAGE, step="callback_number", attempt=2, says=("callback_refused_premium_rate",)),
    case("callback-shared-cost-refused", at("callback_number"), keys("018012345"), IN_MESSAGE,
         step="callback_number", attempt=2, says=("callback_refused_shared_cost",)),
    case("callback-hotline-number-refused", at("callback_number"), keys("08001006711"),
         IN_MESSAGE, step="callback_number", attempt=2, says=("callback_refused_own_number",)),
    case("callback-other-hotline-refused", at("callback_number"), keys("0018005550199"),
         IN_MESSAGE, step="callback_number", attempt=2, says=("callback_refused_own_number",)),
    case("callback-abroad-refused", at("callback_number"), keys("00442079460958"), IN_MESSAGE,
         step="callback_number", attempt=2, says=("callback_refused_country",)),
    case("callback-international-network-refused", at("callback_number"),
         keys("008823421234"), IN_MESSAGE, step="callback_number", attempt=2,
         says=("callback_refused_country",)),
    case("callback-personal-number-refused", at("callback_number"), keys("070012345678"),
         IN_MESSAGE, step="callback_number", attempt=2, says=("callback_refused_number_type",)),
    case("callback-third-refusal-stores-caller-id", at("callback_number", attempt=3),
         keys("09001234567"), IN_MESSAGE, step="sr_reference", fields=BY_CALLER_ID),
    # -- callback number: a country code without 00 is read back, 1 keeps it, 2 types again
    case("callback-country-code-without-00-read-back", at("callback_number", attempt=2),
         keys("4915112345678"), IN_MESSAGE, step="callback_number",
         pending_number="+4915112345678"),
    case("callback-check-1-keeps-the-number",
         at("callback_number", pending_number="+4915112345678"), keys("1"), IN_MESSAGE,
         step="sr_reference", pending_number=None,
         says=(Say("callback_confirmed", digits={"number": "015112345678"}),),
         fields={"callback_number": "+4915112345678", "callback_number_source": "typed"}),
    case("callback-check-2-types-again",
         at("callback_number", pending_number="+4915112345678"), keys("2"), IN_MESSAGE,
         step="callback_number", attempt=2, pending_number=None, says=("callback_type_again",)),
    case("callback-check-wrong-key-asks-again",
         at("callback_number", pending_number="+4915112345678"), keys("7"), IN_MESSAGE,
         step="callback_number", attempt=2, pending_number="+4915112345678",
         says=("not_understood",)),
    case("callback-check-third-silence-stores-caller-id",
         at("callback_number", attempt=3, pending_number="+4915112345678"), SILENCE,
         IN_MESSAGE, step="sr_reference", pending_number=None, silent_turns=1,
         fields=BY_CALLER_ID),
    case("callback-check-2-on-third-try-stores-caller-id",
         at("callback_number", attempt=3, pending_number="+4915112345678"), keys("2"),
         IN_MESSAGE, step="sr_reference", pending_number=None, fields=BY_CALLER_ID),
    # -- SR reference: hash or silence mean "no earlier request"
    case("sr-reference-typed-is-stored", at("sr_reference"), keys(SR), IN_MESSAGE,
         step="consent", fields={"sr_reference": SR}),
    case("sr-reference-hash-alone-is-none", at("sr_reference"), keys("#"), IN_MESSAGE,
         step="consent"),
    case("sr-reference-silence-is-none", at("sr_reference"), SILENCE, IN_MESSAGE, step="consent"),
    case("sr-reference-implausible", at("sr_reference"), keys(NOT_AN_SR), IN_MESSAGE,
         step="sr_reference", attempt=2, says=("sr_invalid",)),
    case("sr-reference-third-try-moves-on", at("sr_reference", attempt=3), keys("1234"),
         IN_MESSAGE, step="consent"),
    # -- consent: only an active 1 is a yes; no answer is recorded as no
    case("consent-1-yes", at("consent"), keys("1"), IN_MESSAGE, step="description",
         says=("consent_given",), consent=True),
    case("consent-2-no", at("consent"), keys("2"), IN_MESSAGE, step="description",
         says=("consent_declined",), consent=False),
    case("consent-wrong-key", at("consent"), keys("9"), IN_MESSAGE, step="consent", attempt=2,
         says=("not_understood",), consent=None),
    case("consent-silence-asks-again", at("consent"), SILENCE, IN_MESSAGE, step="consent",
         attempt=2, says=("no_input",), consent=None),
    case("consent-third-silence-is-recorded-no", at("consent", attempt=3, silent_turns=2),
         SILENCE, IN_MESSAGE, step="description", consent=False),
    # -- description: speech with its confidence; answer channel only with an e-mail on file
    case("description-with-email-asks-channel", at("description", email_on_file=True),
         said("Server down", 0.8), IN_MESSAGE, step="answer_channel",
         fields={"description": "Server down", "description_confidence": 0.8}),
    case("description-without-email-finishes", at("description"), said("Server down", 0.8),
         IN_MESSAGE, step="readback", finish=done(),
         fields={"description": "Server down", "description_confidence": 0.8}),
    case("description-silence", at("description"), SILENCE, IN_MESSAGE, step="description",
         attempt=2, says=("no_input",)),
    case("description-third-try-finishes", at("description", attempt=3), SILENCE, IN_MESSAGE,
         step="readback", finish=done()),
    case("description-third-try-with-email-asks-channel",
         at("description", attempt=3, email_on_file=True), SILENCE, IN_MESSAGE,
         step="answer_channel"),
    case("description-after-offer-answered-is-complete",
         at("description", silence_offer=True), said("Disk full", 0.7), IN_MESSAGE,
         step="readback", finish=done(),
         fields={"description": "Disk full", "description_confidence": 0.7}),
    # -- answer channel: 1 phone, 2 e-mail
    case("channel-1-phone", at("answer_channel", email_on_file=True), keys("1"), IN_MESSAGE,
         step="readback", fields={"answer_channel": "phone"}, finish=done()),
    case("channel-2-email", at("answer_channel", email_on_file=True), keys("2"), IN_MESSAGE,
         step="readback", fields={"answer_channel": "email"}, finish=done()),
    case("channel-wrong-key", at("answer_channel", email_on_file=True), keys("3"), IN_MESSAGE,
         step="answer_channel", attempt=2, says=("not_understood",)),
    case("channel-silence", at("answer_channel", email_on_file=True), SILENCE, IN_MESSAGE,
         step="answer_channel", attempt=2, says=("no_input",)),
    case("channel-third-try-finishes-without-choice",
         at("answer_channel", attempt=3, email_on_file=True), keys("3"), IN_MESSAGE,
         step="readback", finish=done()),
    # -- read-back: 1 repeats the number up to MAX_READBACKS times, anything else ends
    case("readback-1-repeats", at("readback"), keys("1"), IN_MESSAGE, step="readback",
         readbacks=1),
    case("readback-1-repeats-last-time", at("readback", readbacks=MAX_READBACKS - 1), keys("1"),
         IN_MESSAGE, step="readback", readbacks=MAX_READBACKS),
    case("readback-1-after-max-says-goodbye", at("readback", readbacks=MAX_READBACKS),
         keys("1"), IN_MESSAGE, step="end", says=("goodbye",)),
    case("readback-silence-says-goodbye", at("readback"), SILENCE, IN_MESSAGE, step="end",
         says=("goodbye",)),
    case("readback-other-key-says-goodbye", at("readback"), keys("5"), IN_MESSAGE, step="end",
         says=("goodbye",)),
    # -- the end, and a step this flow does not know, only say goodbye
    case("end-says-goodbye", at("end"), keys("1"), IN_MESSAGE, step="end", says=("goodbye",)),
    case("unknown-step-says-goodbye", FlowState(step=cast(StepName, "escalate")), keys("1"),
         facts(), step="end", says=("goodbye",)),
    # -- two whole silent steps: a callback offer on the caller ID, made once
    case("silence-limit-before-message-opens-one",
         at("customer_number", attempt=MAX_TRIES, silent_turns=SILENCE_LIMIT - 1), SILENCE,
         facts(), step="callback_number", says=("silence_offer",), silence_offer=True,
         silent_turns=SILENCE_LIMIT, outcome="message", open_message=opened()),
    case("silence-limit-in-message-asks-number",
         at("company", attempt=MAX_TRIES, silent_turns=SILENCE_LIMIT - 1), SILENCE, IN_MESSAGE,
         step="callback_number", says=("silence_offer",), silence_offer=True, outcome="message"),
    case("silence-limit-with-number-finishes-incomplete",
         at("description", attempt=MAX_TRIES, silent_turns=SILENCE_LIMIT - 1), SILENCE,
         facts(message=MessageFacts(callback_number=CALLER_ID)), step="readback",
         outcome="message", finish=done("silence_offer", complete=False)),
    case("silence-offer-made-once",
         at("name", attempt=MAX_TRIES, silent_turns=SILENCE_LIMIT + 2, silence_offer=True),
         SILENCE, IN_MESSAGE, step="company", silence_offer=True),
    case("after-offer-silence-stores-caller-id-and-finishes",
         at("callback_number", attempt=MAX_TRIES, silent_turns=SILENCE_LIMIT + 2,
            silence_offer=True), SILENCE, IN_MESSAGE, step="readback", fields=BY_CALLER_ID,
         finish=done(complete=False)),
    case("after-offer-1-takes-caller-id-and-goes-on",
         at("callback_number", silent_turns=SILENCE_LIMIT, silence_offer=True), keys("1"),
         IN_MESSAGE, step="sr_reference", fields=BY_CALLER_ID, silent_turns=0),
]
# fmt: on


@pytest.mark.parametrize(("state", "answer", "facts_", "expect"), CASES)
def test_a_turn_decides_the_next_step_and_what_is_stored(
    state: FlowState, answer: CallerAnswer, facts_: Facts, expect: dict[str, Any]
) -> None:
    expected = {**NOTHING_STORED, **expect}
    expected["says"] = tuple(Say(s) if isinstance(s, str) else s for s in expected["says"])
    assert seen(decide(state, answer, facts_), list(expected)) == expected


# The escalation steps have a table of their own (``test_escalation_flow``).
ESCALATION_STEPS = {
    StepName.ESCALATION_SR,
    StepName.ESCALATION_REASON,
    StepName.IMPACT_CHECK,
    StepName.URGENCY_CHECK,
    StepName.SEVERITY_OFFER,
    StepName.ESCALATION_HOLD,
}


def test_the_table_covers_every_step_and_an_unknown_one() -> None:
    steps = {c.values[0].step for c in CASES}
    assert set(StepName) - ESCALATION_STEPS <= steps
    assert steps - set(StepName) == {"escalate"}


# -- walks: several turns, with the message as the turn service would look it up ---------------

VALID = {
    StepName.NAME: said("Erika Mustermann"),
    StepName.COMPANY: said("ACME GmbH"),
    StepName.CALLBACK_NUMBER: keys("1"),
    StepName.SR_REFERENCE: keys("#"),
    StepName.CONSENT: keys("1"),
    StepName.DESCRIPTION: said("Server down"),
    StepName.ANSWER_CHANNEL: keys("2"),
}


def turn(state: FlowState, answer: CallerAnswer, base: Facts) -> tuple[Decision, Facts]:
    """One decision, and the facts of the next turn (the message opened or filled in)."""
    decision = decide(state, answer, base)
    message = base.message
    if message is None and decision.open_message is not None:
        message = MessageFacts(company=decision.open_message.company)
    if message is not None:
        got = decision.fields
        message = MessageFacts(
            company=cast(str | None, got.get("company", message.company)),
            callback_number=cast(str | None, got.get("callback_number", message.callback_number)),
        )
    return decision, replace(base, message=message)


def test_two_whole_silent_steps_offer_a_callback_once_then_end_on_the_caller_id() -> None:
    state, base, steps = at("menu"), facts(), []
    for _ in range(SILENCE_LIMIT + MAX_TRIES):
        decision, base = turn(state, SILENCE, base)
        state = decision.state
        steps.append((state.step.value, [s.key for s in decision.says]))
    assert steps == [
        ("menu", ["no_input"]),
        ("menu", ["no_input"]),
        ("customer_number", []),
        ("customer_number", ["no_input"]),
        ("customer_number", ["no_input"]),
        ("callback_number", ["silence_offer"]),
        ("callback_number", ["no_input"]),
        ("callback_number", ["no_input"]),
        ("readback", []),
    ]
    assert decision.fields == BY_CALLER_ID
    assert decision.finish == done(complete=False)


# fmt: off
FIELD_ORDERS = [
    pytest.param(at("agent"), queue("leave"), facts(),
                 ["name", "company", "callback_number", "sr_reference", "consent", "description"],
                 id="unidentified-new-request-asks-every-field-but-channel"),
    pytest.param(at("agent", email_on_file=True), queue("leave"), facts(customer=ACME),
                 ["name", "callback_number", "sr_reference", "consent", "description",
                  "answer_channel"],
                 id="identified-with-email-skips-company-asks-channel"),
    pytest.param(at("sr_action", quoted_sr=SR), keys("1"), facts(),
                 ["name", "company", "callback_number", "consent", "description"],
                 id="update-on-quoted-sr-skips-sr-reference"),
]
# fmt: on


@pytest.mark.parametrize(("start", "answer", "base", "asked"), FIELD_ORDERS)
def test_the_message_is_asked_field_by_field_in_order(
    start: FlowState, answer: CallerAnswer, base: Facts, asked: list[str]
) -> None:
    decision, base = turn(start, answer, base)
    steps = []
    while decision.finish is None:
        steps.append(decision.state.step.value)
        decision, base = turn(decision.state, VALID[decision.state.step], base)
    assert steps == asked
    assert decision.state.step is StepName.READBACK
    assert decision.finish == done()


def test_the_sr_number_is_repeated_up_to_max_readbacks_then_goodbye() -> None:
    state, heard = at("readback"), []
    for _ in range(MAX_READBACKS + 1):
        decision = decide(state, keys("1"), IN_MESSAGE)
        state = decision.state
        heard.append((state.step.value, state.readbacks, [s.key for s in decision.says]))
    repeats = [("readback", n, []) for n in range(1, MAX_READBACKS + 1)]
    assert heard == [*repeats, ("end", MAX_READBACKS, ["goodbye"])]


# -- after the SR is made (or could not be) ----------------------------------------------------

FINISHED = decide(at("description"), said("Server down"), IN_MESSAGE)
SILENCE_ENDED = decide(
    at("description", attempt=MAX_TRIES, silent_turns=SILENCE_LIMIT - 1),
    SILENCE,
    facts(message=MessageFacts(callback_number=CALLER_ID)),
)

ESCALATION_CLOSING = Say("escalation_recorded", values={"promise": "15 Minuten"})
ESCALATED = Decision(
    state=FlowState(step=StepName.READBACK, kind=MessageKind.ESCALATION, quoted_sr=SR),
    finish=Finish(
        is_complete=True, says=(Say("callback_confirmed"),), escalation_closing=ESCALATION_CLOSING
    ),
)
HOLD_START = Say("escalation_hold_start", digits={"sr_number": SR})
ESCALATED_IN_SILENCE = replace(
    ESCALATED, finish=Finish(False, (Say("callback_confirmed"),), ESCALATION_CLOSING)
)

# fmt: off
SETTLED = [
    pytest.param(FINISHED, None, StepName.END, (Say("no_number_goodbye"),), False,
                 id="no-sr-no-number-goodbye"),
    pytest.param(SILENCE_ENDED, SR, StepName.END,
                 (Say("silence_offer"), Say("sr_number", digits={"sr_number": SR}),
                  Say("silence_goodbye")), False,
                 id="silence-ended-says-number-then-goodbye"),
    pytest.param(SILENCE_ENDED, None, StepName.END,
                 (Say("silence_offer"), Say("no_number_goodbye")), False,
                 id="silence-ended-without-sr-no-number-goodbye"),
    pytest.param(FINISHED, SR, StepName.READBACK, (), False, id="complete-stays-for-readback"),
    pytest.param(ESCALATED, SR, StepName.READBACK, (Say("callback_confirmed"), ESCALATION_CLOSING),
                 False, id="escalation-promises-the-call-back-and-reads-back"),
    pytest.param(ESCALATED, SR, StepName.ESCALATION_HOLD,
                 (Say("callback_confirmed"), HOLD_START), True,
                 id="escalation-held-for-the-duty-manager-says-so-instead"),
    pytest.param(ESCALATED, None, StepName.END,
                 (Say("callback_confirmed"), ESCALATION_CLOSING, Say("no_number_goodbye")),
                 True, id="escalation-without-sr-holds-for-nobody"),
    pytest.param(ESCALATED_IN_SILENCE, SR, StepName.END,
                 (Say("callback_confirmed"), ESCALATION_CLOSING,
                  Say("sr_number", digits={"sr_number": SR}), Say("silence_goodbye")),
                 True, id="escalation-ended-in-silence-holds-for-nobody"),
    pytest.param(FINISHED, SR, StepName.READBACK, (), True, id="no-escalation-no-hold"),
]
# fmt: on


@pytest.mark.parametrize(("decision", "sr_number", "step", "says", "holds"), SETTLED)
def test_after_settling_the_caller_hears_the_number_or_goodbye(
    decision: Decision,
    sr_number: str | None,
    step: StepName,
    says: tuple[Say, ...],
    holds: bool,
) -> None:
    state, heard = after_settling(decision, sr_number, holds_for_duty_manager=holds)
    assert (state.step, state.attempt, heard) == (step, 1, says)


def test_a_caller_who_answers_the_last_field_after_the_silence_offer_hears_the_read_back() -> None:
    state = at("description", attempt=2, silent_turns=1, silence_offer=True)
    decision = decide(state, said("Server down"), IN_MESSAGE)
    assert decision.finish is not None
    assert decision.finish.is_complete  # this answer was no silence
    assert decision.state.silent_turns == 0


def test_giving_up_into_the_message_keeps_counting_the_silence() -> None:
    state, base = at("sr_action", quoted_sr=sr_number_for(1)), facts()
    for _ in range(3):  # the third silence gives up into a callback message at NAME
        decision, base = turn(state, SILENCE, base)
        state = decision.state
    assert (state.step, state.silent_turns) == (StepName.NAME, 3)
    for _ in range(3):
        decision, base = turn(state, SILENCE, base)
        state = decision.state
    # Two whole silent steps: the callback offer comes on the sixth silence.
    assert state.silence_offer
    assert [say.key for say in decision.says] == ["silence_offer"]
