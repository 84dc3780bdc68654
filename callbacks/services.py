"""Putting callbacks in the queue, due by the product line's promise."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callbacks.models import Callback, CallbackStatus
from callbacks.promises import callback_due_at, warn_at
from intake.catalog import Catalog
from intake.ports import CallbackRequest


class CallbackQueue:
    """Schedules callbacks (the ``CallbackScheduler`` port of ``intake``)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def schedule_callback(
        self, session: Session, request: CallbackRequest, *, now: datetime
    ) -> datetime:
        """Add the callback for ``request`` once; return when it is due.

        Asked again for the same message (the caller gave a better number after the call was
        settled early), a callback still waiting takes the new number and keeps its promise.
        """
        existing = session.scalar(select(Callback).where(Callback.message_id == request.message_id))
        if existing is not None:
            if existing.status == CallbackStatus.QUEUED:
                existing.callback_number = request.callback_number
            return existing.due_at
        line = self._catalog.product_line(request.product_line)
        region = self._catalog.region(request.region)
        # The promise counts from when the caller asked, not from when the call was settled.
        if request.promise is not None:
            # A promise of its own (an escalation's duty-manager call back), around the clock.
            due_at = request.asked_at.astimezone(UTC) + request.promise
        else:
            due_at = callback_due_at(line, region, created_at=request.asked_at)
        session.add(
            Callback(
                message_id=request.message_id,
                sr_number=request.sr_number,
                region=request.region,
                language=request.language,
                product_line=request.product_line,
                callback_number=request.callback_number,
                status=CallbackStatus.QUEUED.value,
                requested_at=request.requested_at,
                due_at=due_at,
                warn_at=warn_at(
                    due_at, created_at=request.asked_at, lead=line.callback_warn_before
                ),
                created_at=now,
            )
        )
        return due_at
