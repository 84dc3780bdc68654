"""Build a process's dependencies: engine, catalog, real or log-only senders."""

from __future__ import annotations

import logging

from callbacks.services import CallbackQueue
from config.catalog import load_catalog
from config.clock import SystemClock
from config.dependencies import Dependencies
from config.mailer import mailer_from_url
from config.settings import Settings, SettingsError, sending_problems
from db.engine import make_engine
from db.spool import Spool
from db.transaction import make_session_factory
from escalations.desk import EscalationDesk
from intake.catalog import Catalog
from intake.ports import Clock, Dialer, Mailer, Messenger
from ivr.twilio_rest import LogOnlySenders, TwilioSenders

log = logging.getLogger("hotline")


def build_dependencies(
    settings: Settings,
    *,
    catalog: Catalog | None = None,
    clock: Clock | None = None,
    messenger: Messenger | None = None,
    dialer: Dialer | None = None,
    mailer: Mailer | None = None,
    public_base_url: str | None = None,
) -> Dependencies:
    """Everything a process needs; pass any collaborator to replace the real one (tests)."""
    catalog = catalog or load_catalog(settings.config_path)
    engine = make_engine(settings.database_url, timeouts=settings.database_timeouts)
    clock = clock or SystemClock()
    if messenger is None or dialer is None:
        senders: TwilioSenders | LogOnlySenders
        sid, token = settings.twilio_account_sid, settings.twilio_auth_token
        if sid and token:
            problems = sending_problems(settings, catalog)
            if problems:
                raise SettingsError(problems)
            senders = TwilioSenders(
                sid,
                token,
                api_base_url=settings.twilio_api_base_url,
            )
        else:
            log.warning(
                "event=log_only_senders reason='no TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN: SMS and"
                " outbound calls are logged, not sent'"
            )
            senders = LogOnlySenders(clock=clock)
        messenger = messenger or senders
        dialer = dialer or senders
    return Dependencies(
        settings=settings,
        catalog=catalog,
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=clock,
        messenger=messenger,
        dialer=dialer,
        mailer=mailer or mailer_from_url(settings.smtp_url, clock=clock),
        scheduler=CallbackQueue(catalog),
        escalations=EscalationDesk(catalog),
        public_base_url=public_base_url or settings.public_base_url,
        spool=Spool(settings.spool_dir),
    )
