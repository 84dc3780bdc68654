"""SMTP and log-only mailers, chosen by ``HOTLINE_SMTP_URL``."""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from config.clock import SystemClock
from intake.email_addresses import InvalidEmailAddress, normalized_email
from intake.log_masks import mask_email
from intake.ports import Clock, Mailer, SendError, SendRejected, SendUncertain

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0

# RFC 5322 atext: what a Message-ID's left part may hold between its dots.
_NOT_ATEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+")


class SmtpSecurity(StrEnum):
    """How the connection to the SMTP server is protected."""

    PLAIN = "plain"
    STARTTLS = "starttls"
    TLS = "tls"


_SCHEMES = {
    "smtp": (SmtpSecurity.PLAIN, 25),
    "smtp+starttls": (SmtpSecurity.STARTTLS, 587),
    "smtps": (SmtpSecurity.TLS, 465),
}


@dataclass(frozen=True)
class SmtpMailer:
    """Sends each mail over a fresh SMTP connection, reporting failures as send errors."""

    host: str
    port: int
    security: SmtpSecurity = SmtpSecurity.PLAIN
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # No default: a made-up sender (hotline@localhost) is refused or filed as spam by the
    # customer's mail server, and a reply to it is lost.
    from_address: str = field(kw_only=True)
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    # Dates the messages (the Date header).
    clock: Clock = field(default_factory=SystemClock, repr=False, compare=False)

    @classmethod
    def from_url(cls, url: str, *, clock: Clock | None = None) -> SmtpMailer:
        """Build a mailer from ``smtp[+starttls|s]://[user:pass@]host[:port]?from=address``."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise ValueError(
                f"SMTP URL must start with smtp://, smtp+starttls:// or smtps://, not {scheme!r}://"
            )
        if not parts.hostname:
            raise ValueError("SMTP URL has no host")
        security, default_port = _SCHEMES[scheme]
        try:
            port = parts.port or default_port
        except ValueError as exc:
            raise ValueError(f"SMTP URL has a bad port: {exc}") from exc
        query = parse_qs(parts.query)
        unknown = set(query) - {"from"}
        if unknown:
            raise ValueError(f"SMTP URL has unknown parameters: {', '.join(sorted(unknown))}")
        if "from" not in query:
            raise ValueError(
                "SMTP URL has no sender: add ?from=<address> (an address of your domain that"
                " may send mail through this server)"
            )
        try:
            from_address = normalized_email(query["from"][-1])
        except InvalidEmailAddress as exc:
            raise ValueError(f"SMTP URL's from: {exc}") from exc
        return cls(
            host=parts.hostname,
            port=port,
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            from_address=from_address,
            clock=clock or SystemClock(),
        )

    def send_mail(self, *, to: str, subject: str, body: str, message_id: str) -> None:
        """Deliver one message to the SMTP server; raises ``SendError`` subclasses."""
        message = self.compose(to=to, subject=subject, body=body, message_id=message_id)
        where = f"{self.host}:{self.port}"
        try:
            client = self._connect()
        except OSError as exc:  # smtplib's own errors are OSErrors too
            # Refused, unresolvable, timed out, bad greeting or TLS failed: nothing was sent.
            raise SendError(
                f"mail to {to}: cannot connect to SMTP server {where}: {exc!r}"
            ) from exc
        try:
            self._deliver(client, message, to=to, where=where)
        finally:
            client.close()

    def compose(self, *, to: str, subject: str, body: str, message_id: str) -> EmailMessage:
        """The message as it will be sent, with a Message-ID that is the same on every retry."""
        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(self.clock.now())
        # The same Message-ID on every retry lets mail clients fold a duplicate into one.
        message["Message-ID"] = f"<{message_id_left(message_id)}@hotline>"
        # RFC 3834: stops out-of-office replies from answering the hotline.
        message["Auto-Submitted"] = "auto-generated"
        # Quoted-printable keeps umlauts intact through relays without 8BITMIME.
        message.set_content(body, charset="utf-8", cte="quoted-printable")
        return message

    def _connect(self) -> _TrackingSmtp:
        context = ssl.create_default_context()
        if self.security is SmtpSecurity.TLS:
            return _TrackingSmtpSsl(
                self.host, self.port, timeout=self.timeout_seconds, context=context
            )
        client = _TrackingSmtp(self.host, self.port, timeout=self.timeout_seconds)
        if self.security is SmtpSecurity.STARTTLS:
            try:
                client.starttls(context=context)
            except BaseException:
                client.close()
                raise
        return client

    def _deliver(
        self,
        client: _TrackingSmtp,
        message: EmailMessage,
        *,
        to: str,
        where: str,
    ) -> None:
        what = f"mail to {to} via {where}"
        try:
            if self.username is not None:
                client.login(self.username, self.password or "")
            client.send_message(message, from_addr=self.from_address, to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (0, b""))
            text = f"{what}: recipient refused: {code} {_text(reply)}"
            # 5xx is permanent (no such mailbox); 4xx (greylisting, full mailbox) may pass later.
            raise (SendRejected(text) if 500 <= code < 600 else SendError(text)) from exc
        except smtplib.SMTPDataError as exc:
            text = f"{what}: message refused: {exc.smtp_code} {_text(exc.smtp_error)}"
            raise (SendRejected(text) if 500 <= exc.smtp_code < 600 else SendError(text)) from exc
        except smtplib.SMTPResponseException as exc:
            # Sender refused, login failed, HELO refused: our configuration, not this mail.
            text = f"{what}: {exc.smtp_code} {_text(exc.smtp_error)}"
            raise SendError(text) from exc
        except OSError as exc:  # disconnects, timeouts, missing extensions
            if client.body_sent:
                # The body and its final "." left, but the server's verdict never came back.
                raise SendUncertain(
                    f"{what}: no verdict after the message was sent: {exc!r}"
                ) from exc
            raise SendError(f"{what}: failed before the message was sent: {exc!r}") from exc
        try:
            client.quit()
        except OSError:
            # The server accepted the mail (250 after DATA); a failed goodbye changes nothing.
            logger.debug("SMTP QUIT to %s failed after the mail was accepted", where)


class LogOnlyMailer:
    """Logs each mail instead of sending it, for running without ``HOTLINE_SMTP_URL``."""

    def send_mail(self, *, to: str, subject: str, body: str, message_id: str) -> None:
        """Log that the mail was not sent."""
        logger.warning(
            "Mail NOT sent (log-only mailer, no HOTLINE_SMTP_URL): to=%s message_id=%s",
            mask_email(to),
            # No subject: it carries the SR number and the customer's wording could follow.
            message_id,
        )


def message_id_left(key: str) -> str:
    """``key`` as a valid Message-ID left part: other characters become "-", dots stay single."""
    # Python's email parser cuts "<a:b@hotline>" to "<a" (":" is no atext), so keys like
    # "confirmation:SR-1:mail" must be rewritten, the same way on every retry.
    atoms = (_NOT_ATEXT.sub("-", atom) for atom in key.split("."))
    return ".".join(atom for atom in atoms if atom) or "-"


def mailer_from_url(url: str | None, *, clock: Clock | None = None) -> Mailer:
    """An SMTP mailer for ``url``, or a log-only mailer when no URL is configured."""
    if url is None or not url.strip():
        return LogOnlyMailer()
    return SmtpMailer.from_url(url.strip(), clock=clock)


class _TrackingSmtp(smtplib.SMTP):
    """An SMTP client that notes when the message body with its final CRLF.CRLF was written."""

    body_sent = False

    def send(self, s: Any) -> None:
        super().send(s)
        # smtplib.SMTP.data() writes commands as str and the whole body, ending in
        # CRLF "." CRLF, as one bytes object; after that only the server's verdict is missing.
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self.body_sent = True


class _TrackingSmtpSsl(_TrackingSmtp, smtplib.SMTP_SSL):
    """The same over implicit TLS (port 465)."""


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
