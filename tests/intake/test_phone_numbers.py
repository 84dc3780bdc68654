"""Phone numbers normalised to E.164 and spoken as dialled (typed ones: test_number_policy)."""

from __future__ import annotations

import pytest

from intake.phone_numbers import normalize_e164, spoken_digits


@pytest.mark.parametrize(
    "caller_id", [None, "", "anonymous", "+266696687", "+7378742833", "+2562533", "+8656696"]
)
def test_twilio_placeholders_for_hidden_caller_ids_are_not_numbers(caller_id):
    assert normalize_e164(caller_id, country="DE") is None


def test_a_caller_id_in_e164_stays_as_it_is():
    assert normalize_e164("+4915112345678", country="US") == "+4915112345678"


def test_local_numbers_are_spoken_as_dialled_at_home():
    assert spoken_digits("+4915112345678", country="DE") == "015112345678"


def test_foreign_numbers_are_spoken_with_their_country_code():
    assert spoken_digits("+12125550123", country="DE") == "+12125550123"
    assert spoken_digits("+4915112345678", country="US") == "+4915112345678"
