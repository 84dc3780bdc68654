"""The collaborators a process runs with (types only; ``wiring`` builds the real ones)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from config.clock import SystemClock as SystemClock  # where callers have long found it
from config.settings import Settings
from db.spool import Spool
from db.transaction import SessionFactory
from intake.call_input import CallContext
from intake.catalog import Catalog
from intake.ports import CallbackScheduler, Clock, Dialer, EscalationDesk, Mailer, Messenger


@dataclass(frozen=True)
class Dependencies:
    """Everything a web or worker process needs, built once per process."""

    settings: Settings
    catalog: Catalog
    engine: Engine
    session_factory: SessionFactory
    clock: Clock
    messenger: Messenger
    dialer: Dialer
    mailer: Mailer
    scheduler: CallbackScheduler
    # Customers' escalations and severity raises from the call flow.
    escalations: EscalationDesk
    # Where Twilio reaches us (status callback URLs); None only in tests without HTTP.
    public_base_url: str | None
    # Where callback numbers wait while the database is away (this host's disk).
    spool: Spool

    def call_context(self, now: datetime) -> CallContext:
        """The collaborators of one request about a call, at ``now``."""
        return CallContext(
            catalog=self.catalog, scheduler=self.scheduler, escalations=self.escalations, now=now
        )


def current() -> Dependencies:
    """The dependencies of the Flask app handling this request."""
    from flask import current_app

    deps = current_app.extensions["hotline"]
    assert isinstance(deps, Dependencies)
    return deps
