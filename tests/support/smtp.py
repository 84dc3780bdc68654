"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives, for mail tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Envelope:
    """Who the mail came from and went to, as given in MAIL FROM and RCPT TO."""

    mail_from: str
    rcpt_tos: tuple[str, ...]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self._sink.rejected_recipients:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        # Stored with "\n" line ends, as a mailbox would, so bodies compare to Python strings.
        parsed = BytesParser(policy=policy.default).parsebytes(content.replace(b"\r\n", b"\n"))
        assert isinstance(parsed, EmailMessage)
        self._sink._record(parsed, Envelope(envelope.mail_from, tuple(envelope.rcpt_tos)))
        if self._sink.drop_after_data:
            # Kept the mail but never says so: the client cannot know whether it was accepted.
            server.transport.close()
        return "250 Message accepted for delivery"


class SmtpSink:
    """A real SMTP server on an ephemeral 127.0.0.1 port; ``messages`` holds what it accepted."""

    def __init__(
        self, *, reject_recipients: Iterable[str] = (), drop_after_data: bool = False
    ) -> None:
        self.rejected_recipients = frozenset(address.lower() for address in reject_recipients)
        self.drop_after_data = drop_after_data
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._envelopes: list[Envelope] = []
        self._controller: Controller | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The ``HOTLINE_SMTP_URL`` that reaches this server (with the sender it requires)."""
        return f"smtp://127.0.0.1:{self.port}?from=hotline@example.com"

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message accepted so far, parsed with ``email.policy.default``."""
        with self._lock:
            return list(self._messages)

    @property
    def envelopes(self) -> list[Envelope]:
        """The SMTP envelope of every accepted message, in the same order."""
        with self._lock:
            return list(self._envelopes)

    def start(self) -> str:
        """Start the server and return its URL."""
        if self._controller is not None:
            raise RuntimeError("SMTP sink already running")
        self.port = free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self.url

    def stop(self) -> None:
        """Stop the server and its event loop thread."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _record(self, message: EmailMessage, envelope: Envelope) -> None:
        with self._lock:
            self._messages.append(message)
            self._envelopes.append(envelope)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
