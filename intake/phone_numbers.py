"""Phone numbers as callers type them: parse in the region's country, validate, speak."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType


def parse_callback_number(typed: str | None, *, country: str) -> str | None:
    """E.164 of a number typed on the keypad (national or with 00 prefix), or None if invalid."""
    if not typed:
        return None
    digits = typed.strip().replace("*", "").replace("#", "")
    if not digits.isdigit():
        return None
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    return normalize_e164(digits, country=country)


def normalize_e164(number: str | None, *, country: str) -> str | None:
    """E.164 form of ``number`` when it is a valid, dialable number; None otherwise."""
    if not number:
        return None
    try:
        parsed = phonenumbers.parse(number, country)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, PhoneNumberFormat.E164))


def is_mobile(e164: str) -> bool:
    """Whether an SMS can reach the number (mobile, or a plan where fixed and mobile mix)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except NumberParseException:
        return False
    return phonenumbers.number_type(parsed) in (
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


def spoken_digits(e164: str, *, country: str) -> str:
    """The digits a caller in ``country`` would dial for ``e164`` (national form when local)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except NumberParseException:
        return "".join(c for c in e164 if c.isdigit())
    if phonenumbers.region_code_for_number(parsed) == country:
        formatted = phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)
    else:
        formatted = phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL)
    return "".join(c for c in formatted if c.isdigit() or c == "+")
