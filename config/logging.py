"""One line per event: ``time level logger event=... call_sid=... sr=...``."""

from __future__ import annotations

import logging
import os


def configure_logging(level: str | None = None) -> None:
    """Log to stderr, one line per event (level from HOTLINE_LOG_LEVEL, default INFO)."""
    logging.basicConfig(
        level=(level or os.environ.get("HOTLINE_LOG_LEVEL", "INFO")).upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # APScheduler logs every job run at INFO; our tick runs twice a second.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # The twilio SDK logs every request and response header at INFO; the worker logs each send.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
