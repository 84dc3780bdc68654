"""How the workers are doing: their heartbeats, and the work waiting (for /healthz, /metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.work import WorkerHeartbeat, WorkItem, WorkState, as_utc


def record_heartbeat(session: Session, *, worker_id: str, now: datetime) -> None:
    """Note that ``worker_id`` ticked at ``now``."""
    beat = session.get(WorkerHeartbeat, worker_id)
    if beat is None:
        session.add(WorkerHeartbeat(worker_id=worker_id, started_at=now, last_tick_at=now))
    else:
        beat.last_tick_at = now


def last_heartbeat(session: Session) -> datetime | None:
    """The most recent tick of any worker."""
    return session.execute(select(func.max(WorkerHeartbeat.last_tick_at))).scalar_one_or_none()


@dataclass(frozen=True)
class WorkerHealth:
    """The database answered; how recently a worker ticked, and what that means.

    ``state`` is "ok" (ticked within ``stale_after``), "stale" (longer ago) or "never".
    """

    last_tick_at: datetime | None
    age_seconds: float | None
    state: str


def worker_health(session: Session, *, now: datetime, stale_after: timedelta) -> WorkerHealth:
    """Check that the database answers and judge the most recent worker tick against ``now``."""
    session.execute(select(1)).scalar_one()
    beat = last_heartbeat(session)
    if beat is None:
        return WorkerHealth(last_tick_at=None, age_seconds=None, state="never")
    age = now - beat
    return WorkerHealth(
        last_tick_at=beat,
        age_seconds=age.total_seconds(),
        state="ok" if age < stale_after else "stale",
    )


@dataclass(frozen=True)
class WorkBacklog:
    """Due work per kind and the age of the oldest due row."""

    due_by_kind: dict[str, int]
    failed_by_kind: dict[str, int]
    oldest_due_age_seconds: float


def backlog(session: Session, *, now: datetime) -> WorkBacklog:
    """Count due and failed work, for metrics and health."""
    due_rows = session.execute(
        select(WorkItem.kind, func.count())
        .where(WorkItem.state.in_([WorkState.DUE.value, WorkState.RUNNING.value]))
        .where(WorkItem.due_at <= now)
        .group_by(WorkItem.kind)
    ).all()
    failed_rows = session.execute(
        select(WorkItem.kind, func.count())
        .where(WorkItem.state == WorkState.FAILED.value)
        .group_by(WorkItem.kind)
    ).all()
    oldest = session.execute(
        select(func.min(WorkItem.due_at)).where(
            WorkItem.state.in_([WorkState.DUE.value, WorkState.RUNNING.value]),
            WorkItem.due_at <= now,
        )
    ).scalar_one_or_none()
    age = 0.0
    if oldest is not None:
        age = max(0.0, (now - as_utc(oldest)).total_seconds())
    return WorkBacklog(
        due_by_kind={k: int(n) for k, n in due_rows},
        failed_by_kind={k: int(n) for k, n in failed_rows},
        oldest_due_age_seconds=age,
    )
