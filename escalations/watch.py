"""What the worker keeps an eye on for open escalations: promised updates and the daily report.

Each promised update (communication plan) is reminded of once, ahead of time, to the engineer
(or the duty manager while no engineer is assigned), and flagged once to the region's escalation
managers when its time passed unrecorded; a conditional update of the plan row decides which
worker does it. The daily report is one work row per region, local date and manager, inserted
once the region's local report time has passed: several workers insert it once, and a worker
started after the time still sends that day's report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from db.work import enqueue
from escalations.history import SYSTEM, log
from escalations.notices import NOTICE_PRIORITY, engineer_and_managers, notify
from escalations.records import CommunicationPlan, Escalation, EscalationStatus
from intake.catalog import Catalog, Region
from intake.staff import Role, region_staff, staff_by_ids

REPORT_KIND = "escalations.daily_report"


@dataclass(frozen=True)
class Watched:
    """What one look found to do."""

    reminded: int = 0
    missed: int = 0
    reports: int = 0


def watch_escalations(session: Session, *, now: datetime, catalog: Catalog) -> Watched:
    """Remind of updates coming due, flag missed ones, queue the daily reports due by now."""
    reminded = missed = 0
    plans = session.execute(
        select(CommunicationPlan, Escalation)
        .join(Escalation, Escalation.id == CommunicationPlan.escalation_id)
        .where(
            Escalation.status == EscalationStatus.ACCEPTED.value,
            CommunicationPlan.next_update_due_at <= now + catalog.escalation_reminder_lead,
        )
    ).all()
    for plan, escalation in plans:
        due = plan.next_update_due_at
        zone = catalog.region(escalation.region).zone
        spoken_due = f"{due.astimezone(zone):%Y-%m-%d %H:%M %Z}"
        if _first_to_mark(session, plan, CommunicationPlan.reminded_for, due):
            reminded += 1
            notify(
                session,
                escalation,
                what="update_due",
                occasion=due.isoformat(),
                recipients=_engineer_or_owner(session, escalation),
                now=now,
                values={"due": spoken_due},
            )
        if due <= now and _first_to_mark(session, plan, CommunicationPlan.missed_for, due):
            missed += 1
            log(session, escalation, "update_missed", by=SYSTEM, now=now, due=due.isoformat())
            notify(
                session,
                escalation,
                what="update_missed",
                occasion=due.isoformat(),
                recipients=region_staff(session, region=escalation.region, role=Role.MANAGER),
                now=now,
                values={"due": spoken_due},
            )
    reports = sum(
        _queue_daily_reports(session, region, now=now, catalog=catalog)
        for region in catalog.regions
    )
    return Watched(reminded=reminded, missed=missed, reports=reports)


def _first_to_mark(session: Session, plan: CommunicationPlan, column: Any, due: datetime) -> bool:
    """Mark ``due`` as handled in ``column``; True only for the one transaction that did."""
    result = session.execute(
        update(CommunicationPlan)
        .where(
            CommunicationPlan.id == plan.id,
            or_(column.is_(None), column != due),
        )
        .values({column: due})
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def _engineer_or_owner(session: Session, escalation: Escalation) -> list[Any]:
    person = escalation.engineer_id or escalation.owner_id
    if person is None:
        return engineer_and_managers(session, escalation)
    return list(staff_by_ids(session, {person}).values())


def _queue_daily_reports(
    session: Session, region: Region, *, now: datetime, catalog: Catalog
) -> int:
    local = now.astimezone(region.zone)
    if local.time() < catalog.escalation_report_at:
        return 0
    queued = 0
    for manager in region_staff(session, region=region.key, role=Role.MANAGER):
        if not manager.email:
            continue
        day = local.date().isoformat()
        if enqueue(
            session,
            kind=REPORT_KIND,
            key=f"{REPORT_KIND}:{region.key}:{day}:{manager.id}",
            payload={"region": region.key, "date": day, "user_id": manager.id},
            due_at=now,
            now=now,
            priority=NOTICE_PRIORITY,
        ):
            queued += 1
    return queued
