"""Which numbers are called back and texted, judged on phonenumbers' real metadata."""

from __future__ import annotations

import pytest

from intake.number_policy import (
    Accepted,
    NumberPolicy,
    Refusal,
    Refused,
    can_text,
    judge_callback_number,
    judge_caller_id,
)

OWN = frozenset({"+498001006711", "+18005550199"})
GERMANY = NumberPolicy("DE", frozenset({"DE"}), frozenset({"DE"}), OWN)
USA = NumberPolicy("US", frozenset({"US"}), frozenset({"US"}), OWN)
GERMANY_CALLS_AUSTRIA = NumberPolicy("DE", frozenset({"DE", "AT"}), frozenset({"DE"}), OWN)


@pytest.mark.parametrize(
    ("typed", "judged"),
    [
        ("015112345678", Accepted("+4915112345678")),  # mobile, national form
        ("030123456", Accepted("+4930123456")),  # Berlin landline
        ("004915112345678", Accepted("+4915112345678")),  # with the 00 prefix
        ("015112345678#", Accepted("+4915112345678")),  # the finishing key is no digit
        # The country code without 00: a German mobile, not the landline in Leer it also spells.
        ("4915112345678", Accepted("+4915112345678", needs_confirmation=True)),
        ("09001234567", Refused(Refusal.PREMIUM_RATE)),
        ("00499001234567", Refused(Refusal.PREMIUM_RATE)),
        ("018012345", Refused(Refusal.SHARED_COST)),
        ("018500123456", Refused(Refusal.NUMBER_TYPE)),  # UAN
        ("070012345678", Refused(Refusal.NUMBER_TYPE)),  # personal number
        ("0177991234567", Refused(Refusal.NUMBER_TYPE)),  # mobile voicemail
        ("08001234567890", Refused(Refusal.NUMBER_TYPE)),  # someone else's toll-free line
        ("016412345", Refused(Refusal.NUMBER_TYPE)),  # pager
        ("08001006711", Refused(Refusal.OWN_NUMBER)),  # the German hotline itself
        ("0018005550199", Refused(Refusal.OWN_NUMBER)),  # the US hotline
        ("008823421234", Refused(Refusal.COUNTRY)),  # an international network (+882)
        ("00442079460958", Refused(Refusal.COUNTRY)),  # London
        # Read as meant (London without 00), not as the German landline the digits also spell.
        ("442079460958", Refused(Refusal.COUNTRY)),
        ("12", Refused(Refusal.INVALID)),
        ("", Refused(Refusal.INVALID)),
        (None, Refused(Refusal.INVALID)),
        ("0151-1234", Refused(Refusal.INVALID)),
    ],
)
def test_german_callers_leave_only_mobiles_and_landlines_in_germany(typed, judged):
    assert judge_callback_number(typed, GERMANY) == judged


@pytest.mark.parametrize(
    ("typed", "judged"),
    [
        ("4155552671", Accepted("+14155552671")),  # the trunk prefix 1 is optional here
        ("14155552671", Accepted("+14155552671")),
        ("9002345678", Refused(Refusal.PREMIUM_RATE)),
        ("18005550199", Refused(Refusal.OWN_NUMBER)),
        ("8002345678", Refused(Refusal.NUMBER_TYPE)),  # toll-free
        ("0114915112345678", Refused(Refusal.COUNTRY)),  # 011 is the US international prefix
        ("4915112345678", Refused(Refusal.COUNTRY)),
    ],
)
def test_us_callers_leave_only_us_numbers(typed, judged):
    assert judge_callback_number(typed, USA) == judged


def test_a_region_may_call_back_in_more_countries():
    assert judge_callback_number("00436641234567", GERMANY_CALLS_AUSTRIA) == Accepted(
        "+436641234567"
    )
    assert judge_callback_number("436641234567", GERMANY_CALLS_AUSTRIA) == Accepted(
        "+436641234567", needs_confirmation=True
    )


@pytest.mark.parametrize(
    ("caller_id", "judged"),
    [
        ("+4915112345678", Accepted("+4915112345678")),
        ("+499001234567", Refused(Refusal.PREMIUM_RATE)),
        ("+498001006711", Refused(Refusal.OWN_NUMBER)),
        ("+447911123456", Refused(Refusal.COUNTRY)),
        ("anonymous", Refused(Refusal.INVALID)),
        ("+266696687", Refused(Refusal.INVALID)),  # Twilio's placeholder for a withheld number
        (None, Refused(Refusal.INVALID)),
    ],
)
def test_the_caller_id_is_judged_like_a_typed_number(caller_id, judged):
    assert judge_caller_id(caller_id, GERMANY) == judged


@pytest.mark.parametrize(
    ("number", "policy", "textable"),
    [
        ("+4915112345678", GERMANY, True),
        ("+4930123456", GERMANY, False),  # a landline
        ("+499001234567", GERMANY, False),
        ("+436641234567", GERMANY_CALLS_AUSTRIA, False),  # called back, never texted
        ("+447911123456", GERMANY, False),  # a foreign mobile: the SMS pumping route
        ("+12125550123", USA, True),  # US plans do not tell mobiles from landlines
        ("+18005550199", USA, False),
        (None, GERMANY, False),
    ],
)
def test_sms_goes_only_to_mobiles_in_the_regions_sms_countries(number, policy, textable):
    assert can_text(number, policy) is textable
