"""The daily escalation report: every open escalation of a region, as its managers read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escalations.queries import list_escalations
from escalations.records import CommunicationPlan, EscalationEvent, EscalationStatus
from intake.catalog import Catalog

OPEN = (EscalationStatus.RAISED, EscalationStatus.UNOWNED, EscalationStatus.ACCEPTED)


@dataclass(frozen=True)
class Report:
    """One region's report for one day."""

    subject: str
    body: str


def daily_report(
    session: Session, *, region: str, day: str, now: datetime, catalog: Catalog
) -> Report:
    """Every open escalation of ``region``: status, owner, age, last and next update, and how
    many promised updates were missed; in the region's language and time zone."""
    zone = catalog.region(region).zone
    prompts = catalog.prompts_for(catalog.region(region).language)
    rows = [
        row
        for status in OPEN
        for row in list_escalations(session, now=now, status=status.value, region=region)
    ]
    rows.sort(key=lambda r: (-r.priority, r.created_at, r.id))
    ids = [r.id for r in rows]
    last_updates = dict(
        session.execute(
            select(CommunicationPlan.escalation_id, CommunicationPlan.last_update_at).where(
                CommunicationPlan.escalation_id.in_(ids)
            )
        ).all()
    )
    missed = dict(
        session.execute(
            select(EscalationEvent.escalation_id, func.count())
            .where(
                EscalationEvent.escalation_id.in_(ids),
                EscalationEvent.action == "update_missed",
            )
            .group_by(EscalationEvent.escalation_id)
        ).all()
    )

    def local(value: datetime | None) -> str:
        return "-" if value is None else f"{value.astimezone(zone):%Y-%m-%d %H:%M}"

    lines = [
        prompts.text(
            "escalation_report_line",
            escalation_id=str(r.id),
            sr_number=r.sr_number,
            status=r.status,
            priority=str(r.priority),
            owner=r.owner or "-",
            engineer=r.engineer or "-",
            age=_age(r.age),
            last_update=local(last_updates.get(r.id)),
            next_update=local(r.next_update_due_at),
            missed=str(missed.get(r.id, 0)),
        )
        for r in rows
    ]
    body = "\n".join(lines) if lines else prompts.text("escalation_report_empty")
    subject = prompts.text(
        "escalation_report_subject", region=region, date=day, count=str(len(rows))
    )
    return Report(subject=subject, body=body + "\n")


def _age(age: timedelta) -> str:
    hours = int(age.total_seconds() // 3600)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if days else f"{hours}h"
