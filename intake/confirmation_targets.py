"""Where a message's confirmations go: an SMS to a mobile the region may text (the callback
number, else the caller ID), an e-mail to the address on file, both, or neither; and the facts a
settling turn reads for it before its write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from intake.customers import email_on_file
from intake.models import Message
from intake.number_policy import NumberPolicy, can_text
from intake.sms_limits import RecentSms, recent_sms


def sms_target(
    callback_number: str | None, *, caller_id: str | None, policy: NumberPolicy
) -> str | None:
    """The mobile the confirmation SMS goes to: the callback number, else the caller ID."""
    # A caller who leaves a landline to be called back on often rings from their mobile; the
    # seed promises every request a written confirmation, so that mobile gets it. Only a mobile
    # in the region's SMS countries: texts abroad are the SMS pumping route.
    for number in (callback_number, caller_id):
        if can_text(number, policy):
            return number
    return None


def confirmation_targets(
    *,
    callback_number: str | None,
    caller_id: str | None,
    email: str | None,
    policy: NumberPolicy,
) -> tuple[tuple[str, str], ...]:
    """The (channel, address) pairs a message is confirmed on; empty when it cannot be."""
    sms = sms_target(callback_number, caller_id=caller_id, policy=policy)
    return _targets(sms, email)


def _targets(sms: str | None, email: str | None) -> tuple[tuple[str, str], ...]:
    targets: list[tuple[str, str]] = []
    if sms is not None:
        targets.append(("sms", sms))
    if email:
        targets.append(("email", email))
    return tuple(targets)


@dataclass(frozen=True)
class ConfirmationFacts:
    """What confirming a message needs to know, for the numbers it was read and judged for.

    A webhook turn that settles a message reads these before its write transaction (SQLite's
    writer lock is held for the write alone); ``are_for`` tells whether they still hold for the
    message as it stands in the write, and otherwise they are read again there. The e-mail
    address on file may change between the two (a customer import): the confirmation then goes
    to the address of a moment before, as if the import had come a moment later.
    """

    customer_number: str | None  # whose address on file ``email`` is
    callback_number: str | None
    caller_id: str | None
    email: str | None
    sms_to: str | None  # see ``sms_target``
    # The SMS queued in the hour before, to ``sms_to`` and in all; None: counted when queuing.
    recent_sms: RecentSms | None

    @property
    def targets(self) -> tuple[tuple[str, str], ...]:
        """The (channel, address) pairs the message is confirmed on; empty when it cannot be."""
        return _targets(self.sms_to, self.email)

    def are_for(self, message: Message, *, caller_id: str | None) -> bool:
        """Whether these facts were made for ``message``'s customer and numbers as they are."""
        return (
            self.customer_number == message.customer_number
            and self.callback_number == message.callback_number
            and self.caller_id == caller_id
        )


def confirmation_facts(
    reader: Session | Connection,
    *,
    customer_number: str | None,
    callback_number: str | None,
    caller_id: str | None,
    policy: NumberPolicy,
    now: datetime,
    count_sms: bool,
) -> ConfirmationFacts:
    """Read and judge where a message's confirmations go; with ``count_sms``, count the SMS
    of the last hour as well (see ``intake.sms_limits``)."""
    sms_to = sms_target(callback_number, caller_id=caller_id, policy=policy)
    recent = None
    if count_sms and sms_to is not None:
        connection = reader if isinstance(reader, Connection) else reader.connection()
        recent = recent_sms(connection, address=sms_to, now=now)
    return ConfirmationFacts(
        customer_number=customer_number,
        callback_number=callback_number,
        caller_id=caller_id,
        email=email_on_file(reader, customer_number),
        sms_to=sms_to,
        recent_sms=recent,
    )
