"""The real clock, the one default for every component that takes a ``Clock``."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        """The current instant."""
        return datetime.now(UTC)
