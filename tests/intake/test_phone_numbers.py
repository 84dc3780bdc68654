"""Callback numbers as callers type them: parsed in the region's country, validated, spoken."""

from __future__ import annotations

import pytest

from intake.phone_numbers import is_mobile, normalize_e164, parse_callback_number, spoken_digits


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("015112345678", "+4915112345678"),  # German mobile, national form
        ("030123456", "+4930123456"),  # Berlin landline
        ("004915112345678", "+4915112345678"),  # international with the 00 prefix
        ("0044 20 7946 0018".replace(" ", ""), "+442079460018"),  # UK from Germany
        ("015112345678#", "+4915112345678"),  # the finishing key is not part of the number
    ],
)
def test_german_callers_type_national_or_international_numbers(typed, expected):
    assert parse_callback_number(typed, country="DE") == expected


@pytest.mark.parametrize(
    "typed", [None, "", "1", "12345", "0000000000", "01511234567890123", "0151-1234", "abc"]
)
def test_invalid_typed_numbers_are_refused(typed):
    assert parse_callback_number(typed, country="DE") is None


def test_us_callers_type_ten_digit_numbers():
    assert parse_callback_number("2125550123", country="US") == "+12125550123"
    assert parse_callback_number("12125550123", country="US") == "+12125550123"
    # 011 is the North American international prefix.
    assert parse_callback_number("0114915112345678", country="US") == "+4915112345678"


@pytest.mark.parametrize(
    "caller_id", [None, "", "anonymous", "+266696687", "+7378742833", "+2562533", "+8656696"]
)
def test_twilio_placeholders_for_hidden_caller_ids_are_not_numbers(caller_id):
    assert normalize_e164(caller_id, country="DE") is None


def test_a_caller_id_in_e164_stays_as_it_is():
    assert normalize_e164("+4915112345678", country="US") == "+4915112345678"


def test_mobiles_can_take_an_sms_and_landlines_cannot():
    assert is_mobile("+4915112345678")
    assert not is_mobile("+4930123456")
    # North American numbers do not say whether they are mobile: SMS is tried.
    assert is_mobile("+12125550123")
    assert not is_mobile("not a number")


def test_local_numbers_are_spoken_as_dialled_at_home():
    assert spoken_digits("+4915112345678", country="DE") == "015112345678"


def test_foreign_numbers_are_spoken_with_their_country_code():
    assert spoken_digits("+12125550123", country="DE") == "+12125550123"
    assert spoken_digits("+4915112345678", country="US") == "+4915112345678"
