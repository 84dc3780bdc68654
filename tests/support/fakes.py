"""In-memory stand-ins for the outside world (the ports of ``intake.ports``)."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from intake.ports import SendError, SentMessage


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        assert start.tzinfo is not None
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        with self._lock:
            self._now += delta or timedelta(**kwargs)
            return self._now

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = instant.astimezone(UTC)


@dataclass
class FakeMessenger:
    """Records SMS; can be told to fail the next sends."""

    clock: FakeClock
    sent: list[SentMessage] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def send_sms(
        self, *, to: str, from_: str, body: str, status_callback: str | None
    ) -> SentMessage:
        if self.failures:
            raise self.failures.pop(0)
        message = SentMessage(
            sid=f"SM{next(self._ids):032d}",
            to=to,
            body=body,
            status="queued",
            created_at=self.clock.now(),
        )
        self.sent.append(message)
        return message

    def messages_sent_to(self, *, to: str, since: datetime) -> list[SentMessage]:
        return [m for m in self.sent if m.to == to and (m.created_at or since) >= since]


@dataclass
class FakeMail:
    to: str
    subject: str
    body: str
    message_id: str


@dataclass
class FakeMailer:
    """Records e-mail; can be told to fail the next sends."""

    sent: list[FakeMail] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    def send_mail(self, *, to: str, subject: str, body: str, message_id: str) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(FakeMail(to, subject, body, message_id))


@dataclass
class FakeDialer:
    """Records outbound calls."""

    placed: list[dict[str, object]] = field(default_factory=list)

    def place_call(
        self,
        *,
        to: str,
        from_: str,
        url: str,
        status_callback: str | None,
        timeout_seconds: int,
        machine_detection: bool = False,
    ) -> str:
        if to == "+15005550001":
            raise SendError("invalid number")
        self.placed.append(
            {"to": to, "from": from_, "url": url, "machine_detection": machine_detection}
        )
        return f"CA{len(self.placed):032d}"
