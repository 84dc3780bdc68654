"""Whole calls at the edges of what is stored: over-long answers cut to the documented limits
(the same on both databases), and the confirmation channel a caller's numbers allow."""

from __future__ import annotations

from callbacks.models import Callback
from intake.call_input import ADDRESS_LIMIT, LONG_SPEECH_LIMIT, SPEECH_LIMIT
from intake.confirmations import NO_CONFIRMATION_CHANNEL
from intake.models import Call, Confirmation, Message, ServiceRequest
from tests.support.calls import GERMAN_LINE, read_one, read_rows, wait_in_queue


def test_over_long_speech_and_caller_addresses_are_cut_and_the_call_goes_on(
    phone, demo_customers, deps, de
):
    # A SIP address longer than the column and speech longer than name and description
    # columns: PostgreSQL would refuse them whole, SQLite would keep them whole.
    sip = "sip:" + "x" * 100 + "@pbx.example"
    walker = phone(GERMAN_LINE, sip)
    walker.dial()
    walker.press("1")
    walker.press("4711002#")
    wait_in_queue(walker)
    name = "Erika " + "Mustermann " * 60
    assert walker.say(name) == [de.text("callback_ask")]  # the caller ID is no phone number
    walker.press("030123456")
    walker.press("#")
    walker.press("2")
    description = "Der NSX-Manager startet nicht. " * 200
    walker.say(description)
    assert walker.ended is False  # the read-back, not the error fallback
    message = read_one(deps, Message)
    assert message.contact_name == name[:SPEECH_LIMIT]
    assert message.description == description.strip()[:LONG_SPEECH_LIMIT]
    assert read_one(deps, Call).from_number == sip[:ADDRESS_LIMIT]
    sr = read_one(deps, ServiceRequest)
    assert sr.contact_name == name[:SPEECH_LIMIT]
    assert len(read_rows(deps, Callback)) == 1


def test_a_name_at_the_limit_is_kept_whole(phone, demo_customers, deps):
    walker = phone()
    walker.dial()
    walker.press("1")
    walker.press("4711002#")
    wait_in_queue(walker)
    name = "E" * SPEECH_LIMIT
    walker.say(name)
    walker.hang_up()
    assert read_one(deps, Message).contact_name == name
    assert read_rows(deps, Confirmation)  # the SR was made and confirmed


def test_a_caller_who_leaves_a_landline_is_confirmed_by_sms_on_their_mobile_caller_id(
    phone, demo_customers, deps
):
    walker = phone(GERMAN_LINE, "+4915112345678")
    walker.dial()
    walker.press("1")
    walker.press("4711002#")  # no e-mail address on file
    wait_in_queue(walker)
    walker.say("Erika Mustermann")
    walker.press("030123456#")  # a landline to call back
    walker.press("#")
    walker.press("2")
    walker.say("Der NSX-Manager startet nicht.")
    [sms] = read_rows(deps, Confirmation)
    assert (sms.channel, sms.address) == ("sms", "+4915112345678")
    assert read_one(deps, ServiceRequest).unconfirmed_reason is None
    assert read_one(deps, Callback).callback_number == "+4930123456"


def test_an_sr_that_cannot_be_confirmed_says_why(phone, demo_customers, deps):
    walker = phone(GERMAN_LINE, "anonymous")
    walker.dial()
    walker.press("1")
    walker.press("4711002#")
    wait_in_queue(walker)
    walker.say("Erika Mustermann")
    walker.press("030123456#")
    walker.press("#")
    walker.press("2")
    walker.say("Der NSX-Manager startet nicht.")
    assert read_rows(deps, Confirmation) == []
    assert read_one(deps, ServiceRequest).unconfirmed_reason == NO_CONFIRMATION_CHANNEL
