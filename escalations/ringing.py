"""Ringing the duty managers: start the chain, apply what each call reports, back it up.

``start_ringing`` takes the roster's plan when an escalation is raised and requests the first
ring (the worker places the call once). Every webhook of a duty manager's call is a
``RingReport`` that ``report_ring`` applies with the escalation locked: it reads the facts,
decides with the pure ``ring_chain.ring_decision`` and writes what it names (the ring's outcome,
once; an accept, first wins; the next ring). Each ring is recorded before its call is requested
and keyed by its number, so no ring is placed twice. Status callbacks decide; the worker's
``settle_stalled_rings`` only backs them up for a call never placed or never reported.

The webhook paths are relative: the worker resolves them against the public URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import String, and_, cast, literal, or_, select
from sqlalchemy.orm import Session

from escalations.history import (
    SYSTEM,
    Actor,
    UnknownEscalation,
    locked,
    log,
    owner_spoken_name,
)
from escalations.records import Escalation, EscalationRing, EscalationStatus, RingOutcome
from escalations.ring_chain import (
    ManagerAnswered,
    ManagerKey,
    ManagerLegEnded,
    Reply,
    RingFacts,
    RingReport,
    next_ring,
    ring_decision,
)
from escalations.ring_notices import notify_unowned
from escalations.rosters import ring_plan_for
from escalations.services import accept_escalation, flag_unowned, raise_escalation
from intake.catalog import Catalog
from intake.models import OutboundCall, OutboundCallStatus
from intake.outbound_calls import request_call, withdraw
from intake.service_requests import find_service_request
from intake.staff import staff_by_ids

# Where Twilio asks what the duty manager hears, and where it reports the call (``ivr``).
MANAGER_LEG_PATH = "/ivr/manager/escalation"
MANAGER_STATUS_PATH = f"{MANAGER_LEG_PATH}/status"
# A ring nobody reported on this long after its call was requested is given up on (a status
# callback lost): longer than the ring, the summary and three tries of the question.
STALLED_AFTER = timedelta(minutes=3)


def ring_key(escalation_id: int, seq: int) -> str:
    """The outbound call's idempotency key: one call per escalation and ring number."""
    return f"escalation:{escalation_id}:ring:{seq}"


def ring_query(escalation_id: int, seq: int) -> str:
    """The query naming an escalation's ring in every webhook URL of its call."""
    return urlencode({"escalation": escalation_id, "ring": seq})


# -- starting and moving the chain ---------------------------------------------------------------


def raise_and_ring(
    session: Session, *, catalog: Catalog, now: datetime, **raised: Any
) -> tuple[Escalation, bool]:
    """Raise the escalation (``services.raise_escalation``'s arguments) and, when that made a
    new one, start ringing its duty managers; the escalation and whether it is new."""
    escalation, is_new = raise_escalation(session, now=now, **raised)
    if is_new:
        start_ringing(session, escalation, now=now, catalog=catalog)
    return escalation, is_new


def start_ringing(
    session: Session, escalation: Escalation, *, now: datetime, catalog: Catalog
) -> None:
    """Take the roster's plan for the escalation now (on duty, then the fallback) and ring the
    first person; with nobody to ring, it is flagged unowned at once and everybody told."""
    plan = ring_plan_for(
        session,
        region=escalation.region,
        is_us_government=escalation.is_us_government,
        catalog=catalog,
        now=now,
    )
    people = () if plan is None else plan.people
    escalation.ring_plan = [
        {"user_id": p.user_id, "name": p.name, "phone": p.phone} for p in people
    ]
    escalation.ring_seq = 0
    log(
        session,
        escalation,
        "ringing_started",
        by=SYSTEM,
        now=now,
        plan=[p.name for p in people],
        roster=None if plan is None else f"{plan.region}/{plan.kind.value}",
    )
    _ring_next(session, escalation, now=now, catalog=catalog)


def _ring_next(
    session: Session, escalation: Escalation, *, now: datetime, catalog: Catalog
) -> None:
    plan = escalation.ring_plan or []
    ring = next_ring(
        plan_size=len(plan), rounds=catalog.escalation_ring_rounds, last_seq=escalation.ring_seq
    )
    if ring is None:
        flag_unowned(session, escalation.id, by=SYSTEM, now=now)
        notify_unowned(session, escalation, now=now, catalog=catalog)
        return
    person = plan[ring.position]
    escalation.ring_seq = ring.seq
    escalation.updated_at = now
    session.add(
        EscalationRing(
            escalation_id=escalation.id,
            seq=ring.seq,
            round=ring.round,
            user_id=person["user_id"],
            name=person["name"],
            phone=person["phone"],
            rung_at=now,
        )
    )
    log(
        session,
        escalation,
        "ring",
        by=SYSTEM,
        now=now,
        seq=ring.seq,
        round=ring.round,
        to=person["name"],
    )
    query = ring_query(escalation.id, ring.seq)
    request_call(
        session,
        key=ring_key(escalation.id, ring.seq),
        to=person["phone"],
        from_=catalog.region(escalation.region).numbers[0],
        url=f"{MANAGER_LEG_PATH}?{query}",
        status_callback=f"{MANAGER_STATUS_PATH}?{query}",
        timeout_seconds=catalog.staff_ring_seconds,
        now=now,
        machine_detection=True,
    )


# -- applying a report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RingSummary:
    """What the duty manager hears: the SR, the company, why, and how long ago it was raised."""

    sr_number: str
    company: str | None
    reason: str
    waiting: timedelta
    is_us_government: bool


@dataclass(frozen=True)
class RingResult:
    """What the edge renders for a report."""

    reply: Reply
    # The escalation's region (language, voice); None for an unknown escalation or ring.
    region: str | None = None
    # The try of the question asked next (SUMMARY, ASK_AGAIN).
    tries: int = 1
    summary: RingSummary | None = None
    # Who has it (TAKEN): "already accepted by <name>".
    owner: str | None = None


def report_ring(
    session: Session,
    escalation_id: int,
    seq: int,
    report: RingReport,
    *,
    now: datetime,
    catalog: Catalog,
) -> RingResult:
    """Apply one webhook of ring ``seq`` of escalation ``escalation_id``, at most once."""
    try:
        escalation = locked(session, escalation_id)
    except UnknownEscalation:
        return RingResult(Reply.GONE)
    ring = session.scalar(
        select(EscalationRing).where(
            EscalationRing.escalation_id == escalation.id, EscalationRing.seq == seq
        )
    )
    if ring is None:
        return RingResult(Reply.GONE)
    facts = RingFacts(
        status=EscalationStatus(escalation.status),
        is_current=ring.seq == escalation.ring_seq and ring.outcome is None,
        is_owner=ring.user_id is not None and ring.user_id == escalation.owner_id,
    )
    decision = ring_decision(facts, report)
    reply, outcome, advance, why = decision.reply, decision.outcome, decision.advance, None
    if decision.accept:
        reply = _accept(session, escalation, ring, now=now)
        if reply is Reply.GONE:  # no staff member any more: nobody to own it, the next is rung
            outcome, advance, why = RingOutcome.PASSED, facts.is_current, "no longer staff"
    if outcome is not None and ring.outcome is None:
        _end_ring(session, escalation, ring, outcome, now=now, why=why or _reason(report))
    if advance:
        _ring_next(session, escalation, now=now, catalog=catalog)
    return RingResult(
        reply=reply,
        region=escalation.region,
        tries=_next_try(report),
        summary=_summary(session, escalation, now=now) if reply is Reply.SUMMARY else None,
        owner=owner_spoken_name(session, escalation) if reply is Reply.TAKEN else None,
    )


def _accept(
    session: Session, escalation: Escalation, ring: EscalationRing, *, now: datetime
) -> Reply:
    member = staff_by_ids(session, {ring.user_id}).get(ring.user_id) if ring.user_id else None
    if member is None or not member.is_active:
        # Rung as a roster member who is no staff member any more: nobody to own it.
        return Reply.GONE
    accept_escalation(session, escalation.id, by=member, now=now, via=f"phone, ring {ring.seq}")
    return Reply.ACCEPTED


def _end_ring(
    session: Session,
    escalation: Escalation,
    ring: EscalationRing,
    outcome: RingOutcome,
    *,
    now: datetime,
    why: str,
) -> None:
    ring.outcome = outcome.value
    ring.ended_at = now
    log(
        session,
        escalation,
        "ring_ended",
        by=Actor(ring.name, ring.user_id) if outcome is RingOutcome.PASSED else SYSTEM,
        now=now,
        seq=ring.seq,
        outcome=outcome.value,
        why=why,
    )


def _next_try(report: RingReport) -> int:
    if isinstance(report, ManagerAnswered):
        return report.tries
    if isinstance(report, ManagerKey):
        # "3" (hear it again) starts the question afresh; anything else is asked again.
        return 1 if report.digits == "3" else report.tries + 1
    return 1


def _reason(report: RingReport) -> str:
    if isinstance(report, ManagerKey):
        return f"pressed {report.digits or 'nothing'}"
    if isinstance(report, ManagerLegEnded):
        return f"call {report.call_status}"
    if isinstance(report, ManagerAnswered) and report.answered_by:
        return f"answered by {report.answered_by}"
    return "no key pressed"


def _summary(session: Session, escalation: Escalation, *, now: datetime) -> RingSummary:
    sr = find_service_request(session, escalation.sr_number)
    return RingSummary(
        sr_number=escalation.sr_number,
        company=None if sr is None else sr.company,
        reason=escalation.reason,
        waiting=now - escalation.created_at,
        is_us_government=escalation.is_us_government,
    )


# -- the backstop --------------------------------------------------------------------------------

# A ring whose call the worker gave up placing: the chain moves on at once.
NEVER_PLACED = OutboundCallStatus.FAILED.value


def settle_stalled_rings(
    session: Session, *, now: datetime, catalog: Catalog, limit: int = 100
) -> list[int]:
    """Move the chain on for escalations whose latest ring was never placed (failed) or never
    reported on within ``STALLED_AFTER``; their ids.

    An uncertain call (the worker died while asking Twilio) may be ringing: it waits out
    ``STALLED_AFTER`` like any call that does not report, so no next ring overlaps it.
    """
    key = (
        literal("escalation:")
        .concat(cast(Escalation.id, String))
        .concat(":ring:")
        .concat(cast(Escalation.ring_seq, String))
    )
    stalled = session.execute(
        select(Escalation.id, Escalation.ring_seq, OutboundCall.status)
        .join(
            EscalationRing,
            and_(
                EscalationRing.escalation_id == Escalation.id,
                EscalationRing.seq == Escalation.ring_seq,
            ),
        )
        .outerjoin(OutboundCall, OutboundCall.key == key)
        .where(
            Escalation.status == EscalationStatus.RAISED.value,
            EscalationRing.outcome.is_(None),
            or_(OutboundCall.status == NEVER_PLACED, EscalationRing.rung_at <= now - STALLED_AFTER),
        )
        .order_by(Escalation.id)
        .limit(limit)
    ).all()
    moved = []
    for escalation_id, seq, call_status in stalled:
        escalation = locked(session, escalation_id)
        if escalation.ring_seq != seq:
            continue  # its ring was settled meanwhile (a late status callback): read unlocked
        ring = session.scalar(
            select(EscalationRing).where(
                EscalationRing.escalation_id == escalation.id,
                EscalationRing.seq == escalation.ring_seq,
            )
        )
        if ring is None or ring.outcome is not None or escalation.status != EscalationStatus.RAISED:
            continue  # another worker settled it meanwhile
        if call_status == NEVER_PLACED:
            outcome, why = RingOutcome.NOT_PLACED, f"call not placed ({call_status})"
        elif now - ring.rung_at >= STALLED_AFTER:
            outcome, why = RingOutcome.NO_ANSWER, "no report from the call"
            # Not placed yet (no worker ran, or Twilio kept refusing): it never will be, so it
            # cannot ring over the next person.
            withdraw(session, ring_key(escalation.id, ring.seq), reason="ring given up", now=now)
        else:
            continue
        _end_ring(session, escalation, ring, outcome, now=now, why=why)
        _ring_next(session, escalation, now=now, catalog=catalog)
        moved.append(escalation.id)
    return moved
