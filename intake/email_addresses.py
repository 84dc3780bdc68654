"""E-mail addresses checked by ``email-validator``: a real parser of RFC 5321/5322 addresses
(quoting, internationalised domains, dots, lengths), where looking for an "@" let through
addresses no mail server accepts and the confirmation then failed at every attempt."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


class InvalidEmailAddress(ValueError):
    """Not an address mail can be sent to; the message says why."""


def normalized_email(address: str) -> str:
    """``address`` checked and normalised (domain lower-cased, Unicode NFC).

    Syntax only: a deliverability check asks DNS, which an import of thousands of customers, a
    start-up check or a test without a network must not wait for; a domain without mail shows
    as a refused confirmation instead.
    """
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidEmailAddress(f"{address!r} is not an e-mail address: {exc}") from exc
