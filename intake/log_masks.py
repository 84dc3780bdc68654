"""What of a caller's personal data a log line may show: the last digits of a number, the domain
of an e-mail address, never a message body or spoken text.

Logs are read by more people, kept longer and copied to more places than the database, and an
operator following one call needs only enough to tell numbers apart. Pure and free of any domain
import, so every layer that logs (ivr, console, config, the worker's jobs) can use it.
"""

from __future__ import annotations

import re

# Enough to tell two callers' numbers apart in one log, too little to call anybody.
VISIBLE_DIGITS = 3
NONE = "-"

_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"']+@([A-Za-z0-9.-]+\.[A-Za-z]{2,}|[A-Za-z0-9-]+)")
# A phone number in free text (an exception's message): "+" and 7 to 15 digits (E.164), or a
# national number of 9+ digits. SR numbers (8 digits) and Twilio SIDs (letters and hex) stay.
_PHONE = re.compile(r"(?<![\w+])(?:\+\d[\d ()/-]{5,20}\d|0\d{8,14})(?!\w)")


def mask_phone(number: str | None) -> str:
    """``+4915112345678`` -> ``***678``; an empty value -> ``-``."""
    if not number:
        return NONE
    digits = re.sub(r"\D", "", number)
    if len(digits) <= VISIBLE_DIGITS:
        return "***"
    return "***" + digits[-VISIBLE_DIGITS:]


def mask_email(address: str | None) -> str:
    """``maria@example.com`` -> ``***@example.com``; anything without a domain -> ``***``."""
    if not address:
        return NONE
    _, at, domain = address.rpartition("@")
    return f"***@{domain}" if at and domain else "***"


def mask_address(address: str | None) -> str:
    """A confirmation's address, whichever channel: an e-mail address or a phone number."""
    if address and "@" in address:
        return mask_email(address)
    return mask_phone(address)


def mask_text(text: object) -> str:
    """Free text (an exception's message) with every e-mail address and phone number masked."""
    masked = str(text)
    # Every log line passes here; the e-mail pattern tries a match at each character, so a
    # line without an "@" (nearly all of them) skips it.
    if "@" in masked:
        masked = _EMAIL.sub(lambda m: mask_email(m.group(0)), masked)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), masked)


def presence(value: str | None) -> str:
    """Whether a body or spoken answer arrived, never what it said: ``yes`` or ``-``."""
    return "yes" if value else NONE
