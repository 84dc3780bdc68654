"""Whole calls: only numbers the hotline may call are taken as callback numbers."""

from __future__ import annotations

from callbacks.models import Callback
from intake.models import Message, ServiceRequest
from ivr.prompts import spoken_digits
from tests.support.calls import (
    GERMAN_LINE,
    GERMAN_MOBILE,
    US_LINE,
    read_one,
    read_rows,
    wait_in_queue,
)

PREMIUM_RATE = "+499001234567"


def to_callback_number(walker, customer_number="4711002"):
    """Dial, identify, wait out the queue and give the name; returns the callback question."""
    walker.dial()
    walker.press("1")
    walker.press(f"{customer_number}#")
    wait_in_queue(walker)
    return walker.say("Erika Mustermann")


def finish_message(walker):
    walker.press("#")  # no earlier request
    walker.press("2")  # no recording
    walker.say("Der NSX-Manager startet nicht mehr.")


def test_a_premium_rate_number_is_refused_with_its_reason_and_a_mobile_typed_with_49_is_confirmed(
    phone, demo_customers, deps, de
):
    walker = phone(GERMAN_LINE, GERMAN_MOBILE)
    assert to_callback_number(walker) == [
        de.text("callback_offer", number=spoken_digits("015112345678"))
    ]
    assert walker.press("09001234567#") == [
        de.text("callback_refused_premium_rate"),
        de.text("callback_offer", number=spoken_digits("015112345678")),
    ]
    # 49 without 00: read back as the German mobile it spells, kept only after the 1.
    assert walker.press("4917612345678#") == [
        de.text("callback_check", number=spoken_digits("017612345678"))
    ]
    assert walker.press("1") == [
        de.text("callback_confirmed", number=spoken_digits("017612345678")),
        de.text("ask_sr_reference"),
    ]
    finish_message(walker)
    assert read_one(deps, ServiceRequest).callback_number == "+4917612345678"
    assert read_one(deps, Callback).callback_number == "+4917612345678"
    assert read_one(deps, Message).callback_number_source == "typed"


def test_a_caller_who_hears_a_wrong_reading_types_the_number_again(phone, demo_customers, deps, de):
    walker = phone(GERMAN_LINE, GERMAN_MOBILE)
    to_callback_number(walker)
    walker.press("4930123456#")
    assert walker.press("2") == [
        de.text("callback_type_again"),
        de.text("callback_offer", number=spoken_digits("015112345678")),
    ]
    assert walker.press("08001006711#")[0] == de.text("callback_refused_own_number")
    # The third try gives up on typing: the caller ID is kept.
    assert walker.press("12#")[-1] == de.text("ask_sr_reference")
    finish_message(walker)
    assert read_one(deps, Callback).callback_number == GERMAN_MOBILE
    assert read_one(deps, Message).callback_number_source == "caller_id"


def test_a_premium_rate_caller_id_is_never_offered_nor_called_back(phone, demo_customers, deps, de):
    walker = phone(GERMAN_LINE, PREMIUM_RATE)
    assert to_callback_number(walker) == [de.text("callback_ask")]
    walker.press("1")
    walker.press("1")
    walker.press("1")  # three tries without a number, and no caller ID to fall back on
    walker.press("#")
    walker.press("2")
    # No number to call and no e-mail address on file: no SR is promised, and none is made.
    assert walker.say("Der NSX-Manager startet nicht mehr.") == [de.text("no_number_goodbye")]
    assert read_rows(deps, ServiceRequest) == []
    assert read_rows(deps, Callback) == []
    assert read_one(deps, Message).callback_number is None


def test_a_us_caller_is_told_in_english_why_a_premium_rate_or_foreign_number_is_refused(
    phone, demo_customers, deps, catalog
):
    en = catalog.prompts_for("en-US")
    walker = phone(US_LINE, "+12125550123")
    walker.dial()
    walker.press("1")
    walker.press("5550001#")
    wait_in_queue(walker)
    offer = en.text("callback_offer", number=spoken_digits("2125550123"))
    assert walker.say("John Doe") == [offer]
    assert walker.press("9002345678#") == [en.text("callback_refused_premium_rate"), offer]
    assert walker.press("004915112345678#") == [en.text("callback_refused_country"), offer]
    assert walker.press("4155552671#") == [
        en.text("callback_confirmed", number=spoken_digits("4155552671")),
        en.text("ask_sr_reference"),
    ]
    assert read_one(deps, Message).callback_number == "+14155552671"
