"""Callback promises: when a callback is due and when agents are warned of a coming breach."""

from __future__ import annotations

from datetime import UTC, datetime

from intake.catalog import ProductLine, Region
from intake.support_hours import add_business_hours

# Share of the promise that may pass before agents are warned. At 80 % a 24x7 caller's
# 30-minute promise (seed: "erfolgt ein Rückruf innerhalb von 30 Minuten") leaves 6 minutes
# to claim the callback and dial before it breaks.
WARN_FRACTION_NUMERATOR = 4
WARN_FRACTION_DENOMINATOR = 5


def callback_due_at(line: ProductLine, region: Region, *, created_at: datetime) -> datetime:
    """The UTC instant by which a caller who left a message at ``created_at`` is called back."""
    _require_aware(created_at, "created_at")
    if line.promise_in_business_hours:
        # Desktop products: "innerhalb von 24 Stunden" counted in support hours only.
        return add_business_hours(created_at, line.callback_promise, line, region)
    return created_at.astimezone(UTC) + line.callback_promise


def warn_at(due_at: datetime, *, created_at: datetime) -> datetime:
    """The UTC instant, 80 % of the way from ``created_at`` to ``due_at``, to warn agents."""
    _require_aware(created_at, "created_at")
    _require_aware(due_at, "due_at")
    if due_at < created_at:
        raise ValueError(
            f"due_at {due_at.isoformat()} precedes created_at {created_at.isoformat()}"
        )
    span = due_at - created_at
    return created_at.astimezone(UTC) + span * WARN_FRACTION_NUMERATOR / WARN_FRACTION_DENOMINATOR


def _require_aware(value: datetime, name: str) -> None:
    """Reject a naive datetime, which names no instant."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
