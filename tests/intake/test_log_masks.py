"""What of a number, an address or a text a log line may show."""

from __future__ import annotations

import pytest

from intake.log_masks import mask_address, mask_email, mask_phone, mask_text, presence


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("+4915112345678", "***678"),
        ("015112345678", "***678"),
        ("+1 (202) 555-0143", "***143"),
        ("12", "***"),
        (None, "-"),
        ("", "-"),
    ],
)
def test_a_phone_number_shows_only_its_last_three_digits(number, shown):
    assert mask_phone(number) == shown


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("maria.schneider@example.com", "***@example.com"),
        ("not-an-address", "***"),
        ("trailing@", "***"),
        (None, "-"),
    ],
)
def test_an_email_address_shows_only_its_domain(address, shown):
    assert mask_email(address) == shown


def test_a_confirmation_address_is_masked_by_what_it_is():
    assert mask_address("ops@acme.example") == "***@acme.example"
    assert mask_address("+12025550143") == "***143"


def test_free_text_loses_addresses_and_numbers_but_keeps_sr_numbers_and_sids():
    text = (
        "mail to kundin@example.com failed; SMS to +49 151 1234 5678 and 015112345678 refused;"
        " SR 10000016, call CA0123456789abcdef0123456789abcdef"
    )
    masked = mask_text(text)
    assert "kundin" not in masked
    assert "***@example.com" in masked
    assert "+49 151 1234 5678" not in masked
    assert "SMS to ***678 and ***678 refused" in masked
    assert "015112345678" not in masked
    assert "SR 10000016" in masked
    assert "CA0123456789abcdef0123456789abcdef" in masked


def test_a_body_is_reported_only_as_present_or_not():
    assert presence("Die VM startet nicht") == "yes"
    assert presence(None) == "-"
