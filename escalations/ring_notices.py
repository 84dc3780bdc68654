"""Who is told how the duty managers' ring chain ended: the customer when a duty manager has
the escalation, everybody on the roster when nobody took it.

Each notice is a work row with a unique key, enqueued in the transaction that decided it (the
accept, the unowned flag); the worker renders it from stored values and sends it with no
transaction open (``intake.notice_sending``), then notes it on the escalation's history.
Staff get an SMS when their phone is a mobile the region may text, else an e-mail; the customer
an SMS to the number they escalated from (or the SR's callback number) when it is a mobile,
else an e-mail to the SR's address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from db.work import enqueue, raise_alert
from escalations.history import SYSTEM, log, owner_spoken_name
from escalations.records import Escalation
from escalations.rosters import roster_people_for
from intake.catalog import Catalog
from intake.models import Role
from intake.notice_sending import Outgoing
from intake.number_policy import can_text
from intake.phone_numbers import written_number
from intake.service_requests import find_service_request
from intake.staff import StaffMember, region_staff, staff_by_ids

RING_NOTICE_KIND = "escalations.ring_notice"
# Before everything else: a duty manager is wanted now, a customer waits to hear.
NOTICE_PRIORITY = 5
UNOWNED = "unowned"
ACCEPTED = "accepted"
CUSTOMER = "customer"
UNTOLD_ALERT = "escalation_notice_unsent"
NO_CUSTOMER_CHANNEL = "customer not told: no mobile number to text and no e-mail address on file"


def notify_unowned(
    session: Session, escalation: Escalation, *, now: datetime, catalog: Catalog
) -> int:
    """Tell every roster member and the fallback (the regional escalation manager) that nobody
    accepted the escalation; without a roster, the region's managers. How many were queued;
    nobody to tell raises an alert."""
    people = roster_people_for(
        session, region=escalation.region, is_us_government=escalation.is_us_government
    )
    ids = {p.user_id for p in people if p.user_id is not None}
    staff: list[StaffMember] = list(staff_by_ids(session, ids).values())
    if not people:
        staff = region_staff(session, region=escalation.region, role=Role.MANAGER)
    policy = catalog.number_policy(catalog.region(escalation.region))
    queued = 0
    for member in sorted(staff, key=lambda m: m.id):
        if not member.is_active:
            continue
        channel = "sms" if can_text(member.phone, policy) else "email" if member.email else None
        if channel is None:
            continue
        queued += _enqueue(session, escalation, UNOWNED, f"user:{member.id}", channel, now=now)
    if not queued:
        raise_alert(
            session,
            kind=UNTOLD_ALERT,
            subject=f"escalation {escalation.id}",
            message=(
                f"escalation {escalation.id} of SR {escalation.sr_number} is unowned and nobody"
                " on its roster has a mobile or an e-mail address to tell"
            ),
            now=now,
        )
    return queued


def tell_customer_accepted(session: Session, escalation: Escalation, *, now: datetime) -> None:
    """Tell the customer which duty manager has their escalation (once)."""
    _enqueue(session, escalation, ACCEPTED, CUSTOMER, "any", now=now)


def _enqueue(
    session: Session,
    escalation: Escalation,
    what: str,
    recipient: str,
    channel: str,
    *,
    now: datetime,
) -> int:
    queued = enqueue(
        session,
        kind=RING_NOTICE_KIND,
        key=f"{RING_NOTICE_KIND}:{escalation.id}:{what}:{recipient}:{channel}",
        payload={
            "escalation_id": escalation.id,
            "what": what,
            "recipient": recipient,
            "channel": channel,
            "at": now.isoformat(),
        },
        due_at=now,
        now=now,
        priority=NOTICE_PRIORITY,
    )
    return 1 if queued else 0


@dataclass(frozen=True)
class RingNotice:
    """A notice ready to send, and whom it tells (for the history and the log)."""

    outgoing: Outgoing
    escalation_id: int
    what: str
    recipient: str  # a staff member's name, or "customer"


@dataclass(frozen=True)
class NoWayToTell:
    """The notice cannot go out; why."""

    escalation_id: int
    reason: str


def ring_notice(
    session: Session, payload: dict[str, Any], *, key: str, catalog: Catalog
) -> RingNotice | NoWayToTell | None:
    """The notice a work row stands for; None when it no longer applies (the escalation is
    gone, or was accepted before an "unowned" notice went out, or the person left)."""
    escalation = session.get(Escalation, int(payload["escalation_id"]))
    if escalation is None:
        return None
    what = str(payload["what"])
    if what == UNOWNED and escalation.owner_id is not None:
        return None
    region = catalog.region(escalation.region)
    sr = find_service_request(session, escalation.sr_number)
    values = {
        "sr_number": escalation.sr_number,
        "escalation_id": str(escalation.id),
        "company": (sr.company if sr is not None else None) or "-",
        "region": region.name,
        "number": written_number(region.numbers[0]),
        "name": owner_spoken_name(session, escalation) or "-",
    }
    recipient = str(payload["recipient"])
    if recipient == CUSTOMER:
        mobile = escalation.contact_number or (sr.callback_number if sr is not None else None)
        if can_text(mobile, catalog.number_policy(region)):
            channel, address = "sms", mobile or ""
        elif sr is not None and sr.email:
            channel, address = "email", sr.email
        else:
            return NoWayToTell(escalation.id, NO_CUSTOMER_CHANNEL)
        language, name = (sr.language if sr is not None else region.language), CUSTOMER
    else:
        user_id = int(recipient.removeprefix("user:"))
        member = staff_by_ids(session, {user_id}).get(user_id)
        channel = str(payload["channel"])
        found = (member.phone if channel == "sms" else member.email) if member else None
        if member is None or not member.is_active or not found:
            return None
        address, language, name = found, region.language, member.name
    prompts = catalog.prompts_for(language)
    prefix = f"escalation_{what}_{'customer' if recipient == CUSTOMER else 'staff'}"
    if channel == "sms":
        subject, body = "", prompts.text(f"{prefix}_sms", **values)
    else:
        subject = prompts.text(f"{prefix}_email_subject", **values)
        body = prompts.text(f"{prefix}_email_body", **values)
    return RingNotice(
        outgoing=Outgoing(
            channel=channel,
            address=address,
            sms_from=region.sms_from or region.numbers[0],
            subject=subject,
            body=body,
            sent_since=datetime.fromisoformat(str(payload["at"])),
            message_id=f"<{key}@hotline>",
        ),
        escalation_id=escalation.id,
        what=what,
        recipient=name,
    )


def record_told(
    session: Session, notice: RingNotice, *, provider_id: str | None, now: datetime
) -> None:
    """Note on the escalation's history who was told of what, how."""
    escalation = session.get(Escalation, notice.escalation_id)
    if escalation is not None:
        log(
            session,
            escalation,
            "told",
            by=SYSTEM,
            now=now,
            what=notice.what,
            to=notice.recipient,
            channel=notice.outgoing.channel,
            provider_id=provider_id,
        )


def record_not_told(session: Session, untold: NoWayToTell, *, what: str, now: datetime) -> None:
    """Note on the history, and as an alert, that a notice could not go out."""
    escalation = session.get(Escalation, untold.escalation_id)
    if escalation is None:
        return
    log(session, escalation, "not_told", by=SYSTEM, now=now, what=what, reason=untold.reason)
    raise_alert(
        session,
        kind=UNTOLD_ALERT,
        subject=f"escalation {escalation.id}",
        message=f"{what} of SR {escalation.sr_number}: {untold.reason}",
        now=now,
    )
