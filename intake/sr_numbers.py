"""SR numbers: what callers type and hear, seven or more digits and a Luhn check digit.

Sequential (from the SR row's identity) and so easy to guess: a quoted number attaches a
message to its SR, but never identifies the caller (``intake.call_flow``).
"""

from __future__ import annotations


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit of ``digits`` (catches every single-digit typo and most swaps)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def sr_number_for(sequence: int) -> str:
    """The caller-facing SR number of the ``sequence``-th SR: 7+ digits plus a check digit."""
    body = f"{1_000_000 + sequence:07d}"
    return body + luhn_check_digit(body)


def is_plausible_sr_number(digits: str | None) -> bool:
    """Whether typed digits could be an SR number (length and check digit)."""
    if not digits or not digits.isdigit() or len(digits) < 8:
        return False
    return luhn_check_digit(digits[:-1]) == digits[-1]
