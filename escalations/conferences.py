"""An escalation's conference call: dial the participants into one Twilio conference.

Staff start it on an accepted escalation, naming the participants by role: the customer, the
escalation engineer, the duty manager who owns it, and others by number. Each participant is a
row, and their call is requested (``intake.outbound_calls.request_call``, keyed
``conference:<conference>:<participant>``) in the same transaction, so it is recorded before
the worker places it. A conference has a 6-digit PIN, unique among open conferences, for
latecomers on the region's dial-in line.

One conference is open per escalation at a time. Starting one while another is open adds the
new participants to it instead (the seed: more resources may be brought in; the PIN already
given out stays valid): somebody already on the line or still being dialled is not dialled
again, somebody who left or was not reached is. An open conference with nobody on the line and
nobody being dialled is over (``conference_rules.is_over``) and closed first.

What Twilio reports during the call is applied by ``escalations.conference_calls``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escalations.conference_records import (
    ConferenceParticipant,
    EscalationConference,
    ParticipantKind,
)
from escalations.conference_rules import (
    CALL_ENDED,
    PIN_DIGITS,
    ParticipantState,
    is_over,
    participant_state,
    seconds_between,
)
from escalations.history import SYSTEM, Actor, locked, log, move
from escalations.lifecycle import EscalationMove, decide_escalation_move
from escalations.records import Escalation, EscalationStatus
from intake.catalog import Catalog, Region
from intake.models import OutboundCall, OutboundCallStatus
from intake.number_policy import Accepted, Refusal, judge_caller_id
from intake.outbound_calls import request_call
from intake.service_requests import find_service_request
from intake.staff import staff_by_ids

# Where Twilio asks what a dialled participant hears, and where it reports their call and the
# conference's events (``ivr.conference_calls``). Relative: the worker adds the public URL.
CONFERENCE_PATH = "/ivr/conference"
LEG_PATH = f"{CONFERENCE_PATH}/leg"
LEG_STATUS_PATH = f"{LEG_PATH}/status"
EVENTS_PATH = f"{CONFERENCE_PATH}/events"
DIAL_IN_PATH = f"{CONFERENCE_PATH}/dial-in"
# Draws of a PIN before giving up: with a million PINs and a handful open, one draw nearly
# always does. The unique ``open_pin`` is the guard if two starts draw the same PIN at once.
PIN_DRAWS = 20
# A call refused for good: it will never report back, and its participant was not reached.
NEVER_PLACED = OutboundCallStatus.FAILED.value
# A call the worker may or may not have placed (it died while asking Twilio; an alert is
# raised): it may be ringing or on the line, so its participant counts as still dialled and the
# number is not dialled again (nor the conference closed) until its call reports or a person
# decides.
MAYBE_PLACED = OutboundCallStatus.UNCERTAIN.value

REFUSAL_TEXT = {
    Refusal.INVALID: "is not a valid phone number",
    Refusal.PREMIUM_RATE: "is a premium-rate number",
    Refusal.SHARED_COST: "is a shared-cost number",
    Refusal.OWN_NUMBER: "is one of the hotline's own numbers",
    Refusal.COUNTRY: "is outside the countries the region calls",
    Refusal.NUMBER_TYPE: "is not a mobile or fixed-line number",
}


class ParticipantRefused(Exception):
    """A participant cannot be dialled; ``field`` names the request's entry."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class NoPinFree(Exception):
    """No free PIN was drawn (practically impossible: a million PINs)."""


@dataclass(frozen=True)
class Invitee:
    """Somebody to dial in: by role, or (``OTHER``) by number, with an optional name."""

    kind: ParticipantKind
    number: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ParticipantView:
    """A participant: who, whether they joined, when, for how long."""

    id: int
    kind: str
    name: str
    number: str
    state: ParticipantState
    call_status: str | None
    added_at: datetime
    joined_at: datetime | None
    left_at: datetime | None
    seconds: int | None


@dataclass(frozen=True)
class ConferenceView:
    """A conference with its PIN, dial-in number and participants."""

    id: int
    escalation_id: int
    name: str
    pin: str
    dial_in_number: str | None
    started_by: str
    started_at: datetime
    ended_at: datetime | None
    participants: list[ParticipantView]


@dataclass(frozen=True)
class _Dialled:
    kind: ParticipantKind
    name: str
    number: str
    user_id: int | None = None


def call_key(conference_id: int, participant_id: int) -> str:
    """The outbound call's idempotency key: one call per participant row."""
    return f"conference:{conference_id}:{participant_id}"


def leg_query(conference_id: int, participant_id: int) -> str:
    """The query naming a participant's call in its webhook URLs."""
    return urlencode({"conference": conference_id, "participant": participant_id})


def start_conference(
    session: Session,
    escalation_id: int,
    *,
    invitees: Sequence[Invitee],
    by: Actor,
    now: datetime,
    catalog: Catalog,
) -> ConferenceView:
    """Dial ``invitees`` into the escalation's open conference, or a new one.

    Refused (``MoveRefused``) unless the escalation is accepted; ``ParticipantRefused`` names
    the first participant who cannot be dialled (no engineer, no phone, a premium-rate number).
    """
    if not invitees:
        raise ValueError("name at least one participant")
    escalation = locked(session, escalation_id)
    conference = open_conference(session, escalation.id)
    if conference is not None and is_over(participant_states(session, conference.id)):
        close_conference(session, escalation, conference, at=now, reason="nobody on the line")
        conference = None
    what = (
        EscalationMove.START_CONFERENCE if conference is None else EscalationMove.ADD_TO_CONFERENCE
    )
    # The escalation's state first: a raised one is refused as such, not for lacking an engineer.
    decide_escalation_move(what, EscalationStatus(escalation.status))
    region = catalog.region(escalation.region)
    wanted = _dialled(session, escalation, invitees, region=region, catalog=catalog)
    busy = set() if conference is None else _numbers_on_the_line(session, conference.id)
    fresh: list[_Dialled] = []
    for dialled in wanted:
        if dialled.number not in busy:
            busy.add(dialled.number)
            fresh.append(dialled)
    if conference is None:
        conference = _new_conference(session, escalation, region=region, by=by, now=now)
    if fresh:
        move(
            session,
            escalation,
            what,
            by=by,
            now=now,
            conference=conference.name,
            participants=[f"{d.name} ({d.kind.value})" for d in fresh],
        )
    for dialled in fresh:
        _dial(session, conference, dialled, region=region, catalog=catalog, now=now)
    view = conference_view(session, conference.id)
    assert view is not None
    return view


def open_conference(session: Session, escalation_id: int) -> EscalationConference | None:
    """The escalation's open conference, locked, if it has one."""
    return session.scalar(
        select(EscalationConference)
        .where(
            EscalationConference.escalation_id == escalation_id,
            EscalationConference.ended_at.is_(None),
        )
        .with_for_update()
    )


def close_conference(
    session: Session,
    escalation: Escalation,
    conference: EscalationConference,
    *,
    at: datetime,
    reason: str,
) -> None:
    """End the conference: its PIN is free again; whoever is still on the line left at ``at``."""
    conference.ended_at = at
    conference.open_pin = None
    on_the_line = session.scalars(
        select(ConferenceParticipant).where(
            ConferenceParticipant.conference_id == conference.id,
            ConferenceParticipant.joined_at.is_not(None),
            ConferenceParticipant.left_at.is_(None),
        )
    )
    for participant in on_the_line:
        participant.left_at = max(at, participant.joined_at or at)
        participant.seconds = seconds_between(participant.joined_at, participant.left_at)
    log(
        session,
        escalation,
        "conference_ended",
        by=SYSTEM,
        now=at,
        conference=conference.name,
        reason=reason,
    )


def conference_view(session: Session, conference_id: int) -> ConferenceView | None:
    """One conference with its participants; None when there is none."""
    conference = session.get(EscalationConference, conference_id)
    if conference is None:
        return None
    return _view(conference, _participants(session, [conference.id]).get(conference.id, []))


def conference_views(session: Session, escalation_id: int) -> list[ConferenceView]:
    """The escalation's conferences, oldest first, with their participants."""
    conferences = list(
        session.scalars(
            select(EscalationConference)
            .where(EscalationConference.escalation_id == escalation_id)
            .order_by(EscalationConference.seq)
        )
    )
    participants = _participants(session, [c.id for c in conferences])
    return [_view(c, participants.get(c.id, [])) for c in conferences]


# -- who is dialled ----------------------------------------------------------------------------


def _dialled(
    session: Session,
    escalation: Escalation,
    invitees: Sequence[Invitee],
    *,
    region: Region,
    catalog: Catalog,
) -> list[_Dialled]:
    staff = staff_by_ids(
        session, {i for i in (escalation.engineer_id, escalation.owner_id) if i is not None}
    )
    found: list[_Dialled] = []
    for index, invitee in enumerate(invitees):
        field = f"participants[{index}]"
        if invitee.kind is ParticipantKind.CUSTOMER:
            sr = find_service_request(session, escalation.sr_number)
            number = escalation.contact_number or (None if sr is None else sr.callback_number)
            if not number:
                raise ParticipantRefused(
                    "the customer has no number: none on the escalation or its SR", field=field
                )
            name = invitee.name or (sr.contact_name if sr is not None else None) or "customer"
            e164 = _callable(number, field, region, catalog, "the customer's number")
            found.append(_Dialled(invitee.kind, name, e164))
        elif invitee.kind in (ParticipantKind.ENGINEER, ParticipantKind.DUTY_MANAGER):
            is_engineer = invitee.kind is ParticipantKind.ENGINEER
            user_id = escalation.engineer_id if is_engineer else escalation.owner_id
            role = "escalation engineer" if is_engineer else "duty manager"
            member = None if user_id is None else staff.get(user_id)
            if member is None:
                raise ParticipantRefused(f"no {role} is assigned to the escalation", field=field)
            if not member.phone:
                raise ParticipantRefused(f"{member.name} ({role}) has no phone number", field=field)
            found.append(_Dialled(invitee.kind, member.name, member.phone, member.id))
        elif invitee.kind is ParticipantKind.OTHER:
            if not invitee.number:
                raise ParticipantRefused("give the number to dial", field=f"{field}.number")
            number = _callable(invitee.number, f"{field}.number", region, catalog, "the number")
            found.append(_Dialled(invitee.kind, invitee.name or "other", number))
        else:
            raise ParticipantRefused(
                f"{invitee.kind.value} participants dial in themselves", field=f"{field}.role"
            )
    return found


def _callable(number: str, field: str, region: Region, catalog: Catalog, what: str) -> str:
    """``number`` in E.164 when the region may call it, as callbacks may (no premium-rate,
    shared-cost, foreign or own numbers); refused naming the reason otherwise."""
    judged = judge_caller_id(number.strip(), catalog.number_policy(region))
    if isinstance(judged, Accepted):
        return judged.e164
    raise ParticipantRefused(f"{what} {REFUSAL_TEXT[judged.reason]}", field=field)


# -- rows --------------------------------------------------------------------------------------


def _new_conference(
    session: Session, escalation: Escalation, *, region: Region, by: Actor, now: datetime
) -> EscalationConference:
    seq = (
        session.scalar(
            select(func.max(EscalationConference.seq)).where(
                EscalationConference.escalation_id == escalation.id
            )
        )
        or 0
    ) + 1
    pin = free_pin(session)
    conference = EscalationConference(
        escalation_id=escalation.id,
        seq=seq,
        name=f"escalation-{escalation.id}-{seq}",
        region=escalation.region,
        pin=pin,
        open_pin=pin,
        dial_in_number=region.conference_number,
        started_by=by.name,
        started_by_user_id=by.user_id,
        started_at=now,
    )
    session.add(conference)
    session.flush()
    return conference


def draw_pin() -> str:
    """Six random digits; secrets, not random: a PIN that could be predicted lets strangers
    listen in."""
    return f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"


def free_pin(session: Session, *, draw: Callable[[], str] = draw_pin) -> str:
    """A PIN no open conference has."""
    for _ in range(PIN_DRAWS):
        pin = draw()
        taken = session.scalar(
            select(EscalationConference.id).where(EscalationConference.open_pin == pin)
        )
        if taken is None:
            return pin
    raise NoPinFree(f"no free PIN in {PIN_DRAWS} draws")


def _dial(
    session: Session,
    conference: EscalationConference,
    dialled: _Dialled,
    *,
    region: Region,
    catalog: Catalog,
    now: datetime,
) -> None:
    participant = ConferenceParticipant(
        conference_id=conference.id,
        kind=dialled.kind.value,
        name=dialled.name,
        number=dialled.number,
        user_id=dialled.user_id,
        added_at=now,
    )
    session.add(participant)
    session.flush()
    participant.call_key = call_key(conference.id, participant.id)
    query = leg_query(conference.id, participant.id)
    request_call(
        session,
        key=participant.call_key,
        to=dialled.number,
        from_=region.numbers[0],
        url=f"{LEG_PATH}?{query}",
        status_callback=f"{LEG_STATUS_PATH}?{query}",
        # Below voicemail pickup, as for staff: a mailbox must not join the conference.
        timeout_seconds=catalog.staff_ring_seconds,
        now=now,
    )


# -- reading -----------------------------------------------------------------------------------


def _participants(session: Session, conference_ids: list[int]) -> dict[int, list[ParticipantView]]:
    if not conference_ids:
        return {}
    rows = session.execute(
        select(ConferenceParticipant, OutboundCall.status)
        .outerjoin(OutboundCall, OutboundCall.key == ConferenceParticipant.call_key)
        .where(ConferenceParticipant.conference_id.in_(conference_ids))
        .order_by(ConferenceParticipant.id)
    ).all()
    found: dict[int, list[ParticipantView]] = {}
    for p, placing in rows:
        state = participant_state(
            joined_at=p.joined_at,
            left_at=p.left_at,
            # Nobody waits for a dial-in caller: their row is made as they are put through,
            # and a caller who hangs up first sends no event at all.
            call_ended=p.call_status in CALL_ENDED
            or placing == NEVER_PLACED
            or p.kind == ParticipantKind.DIAL_IN,
        )
        found.setdefault(p.conference_id, []).append(
            ParticipantView(
                id=p.id,
                kind=p.kind,
                name=p.name,
                number=p.number,
                state=state,
                call_status=p.call_status
                or (placing if placing in (NEVER_PLACED, MAYBE_PLACED) else None),
                added_at=p.added_at,
                joined_at=p.joined_at,
                left_at=p.left_at,
                seconds=p.seconds,
            )
        )
    return found


def participant_states(session: Session, conference_id: int) -> list[ParticipantState]:
    """Where each of the conference's participants stands."""
    return [p.state for p in _participants(session, [conference_id]).get(conference_id, [])]


def _numbers_on_the_line(session: Session, conference_id: int) -> set[str]:
    """Numbers of participants on the line or still being dialled: not dialled again."""
    views = _participants(session, [conference_id]).get(conference_id, [])
    active = (ParticipantState.DIALLING, ParticipantState.ON_CALL)
    return {p.number for p in views if p.state in active}


def _view(conference: EscalationConference, participants: list[ParticipantView]) -> ConferenceView:
    return ConferenceView(
        id=conference.id,
        escalation_id=conference.escalation_id,
        name=conference.name,
        pin=conference.pin,
        dial_in_number=conference.dial_in_number,
        started_by=conference.started_by,
        started_at=conference.started_at,
        ended_at=conference.ended_at,
        participants=participants,
    )
