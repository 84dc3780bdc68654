"""Phone numbers: normalise to E.164 and speak them (which ones we call: ``number_policy``)."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat


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


def written_number(e164: str) -> str:
    """``e164`` grouped for reading in a text (``+49 800 1006711``); as given when unparseable."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    return str(phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL))
