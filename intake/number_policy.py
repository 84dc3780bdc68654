"""Which numbers the hotline calls back and texts: pure judgements on phonenumbers' metadata.

A toll-free hotline pays for every callback and every SMS. Accepting any valid number made it
a route to premium-rate and shared-cost lines, international networks (+882) and SMS pumping
fraud (texts to foreign mobiles that earn the fraudster a share), so a region only calls the
number types people actually answer (mobile and fixed line) in the countries it serves, never
its own hotline numbers, and texts only mobiles in the countries it may text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberType

# Numbers a person answers: the only ones a callback is placed to.
_CALLABLE_TYPES = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
# Numbers an SMS reaches. FIXED_LINE_OR_MOBILE is the whole plan of the US and Canada, where
# the metadata cannot tell the two apart; Twilio refuses a landline there (error 21614).
_TEXTABLE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


class Refusal(enum.StrEnum):
    """Why a number is not called back; each kind has its own short prompt for the caller."""

    INVALID = "invalid"  # no valid number at all
    PREMIUM_RATE = "premium_rate"  # 0900: charged to us by the minute
    SHARED_COST = "shared_cost"  # 0180: charged to us
    OWN_NUMBER = "own_number"  # one of the hotline's own numbers
    COUNTRY = "country"  # outside the region's callback countries (or +882 networks)
    NUMBER_TYPE = "number_type"  # UAN, personal, voicemail, toll-free, VoIP, pager, unknown


_REFUSED_TYPES = {
    PhoneNumberType.PREMIUM_RATE: Refusal.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST: Refusal.SHARED_COST,
}


@dataclass(frozen=True)
class NumberPolicy:
    """A region's rules: where it calls back, where it texts, and the hotline's own numbers."""

    country: str  # ISO 3166 alpha-2: how a national number typed on the keypad is read
    callback_countries: frozenset[str]
    sms_countries: frozenset[str]
    own_numbers: frozenset[str]  # every region's hotline numbers, E.164


@dataclass(frozen=True)
class Accepted:
    """A number the hotline may call back; read it back first when it may be misread."""

    e164: str
    # Typed with a country code but without 00 ("4915112345678"): it could also be read as a
    # national number, so the caller confirms the reading before it is kept.
    needs_confirmation: bool = False


@dataclass(frozen=True)
class Refused:
    """A number the hotline will not call, and why (the caller hears the reason)."""

    reason: Refusal


Judgement = Accepted | Refused


def judge_callback_number(typed: str | None, policy: NumberPolicy) -> Judgement:
    """Whether the digits typed on the keypad are a number we call back, read as meant."""
    digits = (typed or "").strip().replace("*", "").replace("#", "")
    if not digits.isdigit():
        return Refused(Refusal.INVALID)
    if digits.startswith("00"):
        return _judge(_parsed("+" + digits[2:], None), policy)
    national = _parsed(digits, policy.country)
    international = _parsed("+" + digits, None)
    if international is not None and _reads_as_international(digits, national, policy.country):
        # Refused as meant (a UK number from a German caller) rather than silently taken as
        # the national number it also spells: the caller can type it again with its 0.
        judged = _judge(international, policy)
        if isinstance(judged, Accepted):
            return Accepted(judged.e164, needs_confirmation=True)
        return judged
    return _judge(national, policy)


# Judgements are pure and a call's caller ID is judged at every turn: the last few thousand
# are kept (parsing with phonenumbers' metadata is most of a turn's own work otherwise).
_JUDGED_NUMBERS = 4096


@lru_cache(maxsize=_JUDGED_NUMBERS)
def judge_caller_id(number: str | None, policy: NumberPolicy) -> Judgement:
    """Whether the caller ID (E.164 from Twilio, or "anonymous") is a number we call back."""
    if not number:
        return Refused(Refusal.INVALID)
    return _judge(_parsed(number, policy.country), policy)


@lru_cache(maxsize=_JUDGED_NUMBERS)
def can_text(e164: str | None, policy: NumberPolicy) -> bool:
    """Whether a confirmation SMS may go to ``e164``: a callable mobile in an SMS country."""
    if not e164:
        return False
    parsed = _parsed(e164, None)
    if parsed is None or isinstance(_judge(parsed, policy), Refused):
        return False
    return (
        phonenumbers.number_type(parsed) in _TEXTABLE_TYPES
        and phonenumbers.region_code_for_number(parsed) in policy.sms_countries
    )


def _parsed(number: str, country: str | None) -> PhoneNumber | None:
    try:
        parsed = phonenumbers.parse(number, country)
    except NumberParseException:
        return None
    return parsed if phonenumbers.is_valid_number(parsed) else None


def _reads_as_international(digits: str, national: PhoneNumber | None, country: str) -> bool:
    """Whether a valid international reading of ``digits`` (no 00) is the one meant.

    When the national reading is invalid, it is. When both are valid, only in a country whose
    callers must dial the trunk prefix ("0" in Germany) for every national number and did not:
    "4915112345678" is then a German mobile with its country code, not a landline in Leer.
    In the US and Canada the trunk prefix "1" is optional, so "4155552671" stays national.
    """
    if national is None:
        return True
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(country)
    prefix = metadata.national_prefix if metadata is not None else None
    if not prefix or metadata is None or metadata.country_code == 1:
        return False
    return not digits.startswith(prefix)


def _judge(parsed: PhoneNumber | None, policy: NumberPolicy) -> Judgement:
    if parsed is None:
        return Refused(Refusal.INVALID)
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if e164 in policy.own_numbers:
        return Refused(Refusal.OWN_NUMBER)
    kind = phonenumbers.number_type(parsed)
    if kind in _REFUSED_TYPES:
        return Refused(_REFUSED_TYPES[kind])
    # Before the remaining types: a +882 network or a foreign number is refused for where it
    # is, which the caller can act on, rather than for what it is.
    if phonenumbers.region_code_for_number(parsed) not in policy.callback_countries:
        return Refused(Refusal.COUNTRY)
    if kind not in _CALLABLE_TYPES:
        return Refused(Refusal.NUMBER_TYPE)
    return Accepted(e164)
