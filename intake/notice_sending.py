"""Sending one notice (an SMS or an e-mail) in effect once, whatever the worker retries.

A notice is a work row; the worker may run it again after an attempt whose fate is unknown (a
timeout after the request left, a worker killed mid-send). An SMS is then looked for among those
Twilio sent to the number since the notice was decided, by its text (notices are rendered from
stored values, so every attempt's text is the same), and not sent again when found. An e-mail
is sent again with the same Message-ID: there is no provider to ask, and mail clients fold the
two into one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from intake.ports import Mailer, Messenger, SentMessage

log = logging.getLogger("hotline.worker")

# Twilio stamps messages with its own clock: look a little before the notice was decided.
RECONCILE_MARGIN = timedelta(minutes=2)


@dataclass(frozen=True)
class Outgoing:
    """One notice ready to send."""

    channel: str  # "sms" or "email"
    address: str
    sms_from: str
    subject: str
    body: str
    # The earliest instant any attempt at this notice could have gone out.
    sent_since: datetime
    # Stable across attempts: the e-mail's Message-ID.
    message_id: str


def send_once(
    outgoing: Outgoing, *, attempt: int, messenger: Messenger, mailer: Mailer
) -> str | None:
    """Send ``outgoing`` unless an earlier attempt (``attempt`` > 1) already sent the SMS; the
    provider's id (an SMS's SID; None for an e-mail). Raises the sender's ``SendError``."""
    if outgoing.channel == "sms":
        if attempt > 1:
            found = already_sent(outgoing, messenger)
            if found is not None:
                return found.sid
        sent = messenger.send_sms(
            to=outgoing.address, from_=outgoing.sms_from, body=outgoing.body, status_callback=None
        )
        return sent.sid
    mailer.send_mail(
        to=outgoing.address,
        subject=outgoing.subject,
        body=outgoing.body,
        message_id=outgoing.message_id,
    )
    return None


def already_sent(outgoing: Outgoing, messenger: Messenger) -> SentMessage | None:
    """The SMS an earlier attempt sent: the same text to the same number since the notice was
    decided, the earliest if several."""
    since = outgoing.sent_since - RECONCILE_MARGIN
    matches = [
        m
        for m in messenger.messages_sent_to(to=outgoing.address, since=since)
        if m.body == outgoing.body
    ]
    found = min(matches, key=lambda m: (m.created_at is None, m.created_at, m.sid), default=None)
    log.info(
        "event=notice_reconciled found=%s action=%s",
        found.sid if found is not None else "no",
        "none" if found is not None else "send",
    )
    return found
