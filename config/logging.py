"""One line per event: ``time level logger event=... call_sid=... sr=...``."""

from __future__ import annotations

import logging
import os

from intake.log_masks import mask_text


class MaskingFormatter(logging.Formatter):
    """Masks phone numbers and e-mail addresses in whatever reaches the log: a backstop for
    exception messages and tracebacks (a driver's or SDK's error text), which no call site's
    arguments control. Call sites mask their own values first (intake.log_masks)."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def configure_logging(level: str | None = None) -> None:
    """Log to stderr, one line per event (level from HOTLINE_LOG_LEVEL, default INFO)."""
    wanted = (level or os.environ.get("HOTLINE_LOG_LEVEL") or "INFO").strip().upper()
    known = logging.getLevelNamesMapping()
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=known.get(wanted, logging.INFO), handlers=[handler])
    if wanted not in known:
        logging.getLogger("hotline").warning(
            "event=bad_log_level HOTLINE_LOG_LEVEL=%r: use DEBUG, INFO, WARNING or ERROR;"
            " using INFO",
            wanted,
        )
    # APScheduler logs every job run at INFO; the worker ticks four times a second.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # The twilio SDK logs every request and response header at INFO; the worker logs each send.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    # Alembic 1.17+ announces each of its plugins at INFO on every `hotline db upgrade`.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
