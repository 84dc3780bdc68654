"""Callback promises: when a callback is due and when agents are warned of a coming breach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from intake.catalog import ProductLine, Region
from intake.support_hours import add_business_hours


def callback_due_at(line: ProductLine, region: Region, *, created_at: datetime) -> datetime:
    """The UTC instant by which a caller who left a message at ``created_at`` is called back."""
    _require_aware(created_at, "created_at")
    if line.promise_in_business_hours:
        # Desktop products: "innerhalb von 24 Stunden" counted in support hours only.
        return add_business_hours(created_at, line.callback_promise, line, region)
    return created_at.astimezone(UTC) + line.callback_promise


def warn_at(due_at: datetime, *, created_at: datetime, lead: timedelta) -> datetime:
    """The UTC instant, ``lead`` before ``due_at`` but not before ``created_at``, at which the
    region's managers are told that a callback is still unclaimed."""
    _require_aware(created_at, "created_at")
    _require_aware(due_at, "due_at")
    if due_at < created_at:
        raise ValueError(
            f"due_at {due_at.isoformat()} precedes created_at {created_at.isoformat()}"
        )
    return max(due_at - lead, created_at).astimezone(UTC)


def retry_at(failed_at: datetime, line: ProductLine) -> datetime:
    """When the next call to a customer who was not reached is placed."""
    _require_aware(failed_at, "failed_at")
    return failed_at.astimezone(UTC) + line.callback_retry_interval


def _require_aware(value: datetime, name: str) -> None:
    """Reject a naive datetime, which names no instant."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
