"""Telling staff about an escalation by e-mail: who is told of what, and the message itself.

Each recipient's notice is its own work row (unique key), so a notice reaches each person once
even when the worker retries or several workers run; the e-mail's Message-ID is the key, so a
resend after an uncertain delivery folds into the first in most mail clients.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from db.work import enqueue
from escalations.records import Escalation
from intake.catalog import Catalog
from intake.staff import Role, StaffMember, region_staff, staff_by_ids

NOTICE_KIND = "escalations.notice"
# Staff waiting to act on an escalation come before confirmations and callbacks' work.
NOTICE_PRIORITY = 5


@dataclass(frozen=True)
class Notice:
    """One e-mail to one staff member."""

    to: str
    subject: str
    body: str
    message_id: str


def notify(
    session: Session,
    escalation: Escalation,
    *,
    what: str,
    occasion: str,
    recipients: Iterable[StaffMember],
    now: datetime,
    reason: str | None = None,
    values: dict[str, str] | None = None,
) -> int:
    """Queue ``what`` (a prompt pair ``escalation_<what>_subject/_body``) for each recipient
    with an e-mail address, once per ``occasion``; how many were queued. ``values`` fill the
    prompts' own fields besides the escalation's."""
    queued = 0
    for member in {m.id: m for m in recipients if m.email}.values():
        key = f"{NOTICE_KIND}:{escalation.id}:{what}:{occasion}:{member.id}"
        payload = {
            "escalation_id": escalation.id,
            "user_id": member.id,
            "what": what,
            "reason": reason or "",
            "values": values or {},
        }
        if enqueue(
            session,
            kind=NOTICE_KIND,
            key=key,
            payload=payload,
            due_at=now,
            now=now,
            priority=NOTICE_PRIORITY,
        ):
            queued += 1
    return queued


def engineer_and_managers(session: Session, escalation: Escalation) -> list[StaffMember]:
    """The escalation's engineer and the region's managers (the regional escalation manager)."""
    people = region_staff(session, region=escalation.region, role=Role.MANAGER)
    if escalation.engineer_id is not None:
        people += staff_by_ids(session, {escalation.engineer_id}).values()
    return people


def notice_for(
    session: Session, payload: dict[str, object], *, key: str, catalog: Catalog
) -> Notice | None:
    """The e-mail a notice work row sends, or None when its recipient has no address now."""
    escalation = session.get(Escalation, int(str(payload["escalation_id"])))
    member = staff_by_ids(session, {int(str(payload["user_id"]))})
    recipient = next(iter(member.values()), None)
    if escalation is None or recipient is None or not recipient.email:
        return None
    prompts = catalog.prompts_for(catalog.region(escalation.region).language)
    what = str(payload["what"])
    values = {
        "sr_number": escalation.sr_number,
        "priority": str(escalation.priority),
        "reason": str(payload.get("reason") or "-"),
        "escalation_id": str(escalation.id),
    }
    extra = payload.get("values")
    if isinstance(extra, dict):
        values.update({str(k): str(v) for k, v in extra.items()})
    return Notice(
        to=recipient.email,
        subject=prompts.text(f"escalation_{what}_subject", **values),
        body=prompts.text(f"escalation_{what}_body", **values),
        message_id=f"<{key}@hotline>",
    )
