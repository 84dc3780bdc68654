"""What Twilio reports during a conference call, applied once each.

Every report runs in the caller's transaction with the escalation and then the conference
locked (always in that order, as ``start_conference`` does, so two reports never deadlock),
decides with the pure ``conference_rules`` and writes what the decision names: the
participant's CallSid when their phone is picked up, how their call ended, their join and
leave (with the event's own timestamp), the conference's end. Joins, leaves and the end are
appended to the escalation's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from escalations.conference_records import (
    ConferenceParticipant,
    EscalationConference,
    ParticipantKind,
)
from escalations.conference_rules import (
    CALL_ENDED,
    EventEffect,
    LegReply,
    event_effect,
    is_over,
    leg_reply,
    seconds_between,
)
from escalations.conferences import close_conference, participant_states
from escalations.history import SYSTEM, locked, log
from escalations.records import Escalation
from intake.log_masks import mask_phone

DIAL_IN_NAME = "dial-in caller"


@dataclass(frozen=True)
class JoinTarget:
    """The conference a call is put into, and what its intro says."""

    conference_id: int
    name: str
    sr_number: str
    region: str


@dataclass(frozen=True)
class LegAnswer:
    """What a picked-up participant's phone hears: into the conference, or goodbye."""

    reply: LegReply
    # The conference's region (language, voice); None when the conference is unknown.
    region: str | None = None
    target: JoinTarget | None = None


@dataclass(frozen=True)
class EventReport:
    """One conference event: StatusCallbackEvent, the participant's CallSid, Twilio's
    ConferenceSid, and when it happened (None: Twilio sent no readable Timestamp)."""

    event: str
    call_sid: str | None
    conference_sid: str | None
    at: datetime | None


def answer_leg(
    session: Session, conference_id: int, participant_id: int, *, call_sid: str
) -> LegAnswer:
    """A dialled participant picked up: keep their CallSid and say where the call goes."""
    found = _locked(session, conference_id)
    if found is None:
        return LegAnswer(LegReply.GONE)
    escalation, conference = found
    participant = session.get(ConferenceParticipant, participant_id)
    if participant is not None and participant.conference_id != conference.id:
        participant = None
    reply = leg_reply(
        is_open=conference.ended_at is None,
        is_participant=participant is not None,
        has_left=participant is not None and participant.left_at is not None,
    )
    if reply is LegReply.JOIN and participant is not None and participant.call_sid is None:
        participant.call_sid = call_sid
    return LegAnswer(reply, conference.region, _target(escalation, conference))


def end_leg(
    session: Session, conference_id: int, participant_id: int, *, call_status: str, now: datetime
) -> bool:
    """A participant's call reported its status: keep how it ended (once). Whether that ended
    the conference (nobody on the line and nobody still being dialled)."""
    if call_status not in CALL_ENDED:
        return False  # ringing, answered: the conference's events say more
    found = _locked(session, conference_id)
    if found is None:
        return False
    escalation, conference = found
    participant = session.get(ConferenceParticipant, participant_id)
    if participant is None or participant.conference_id != conference.id:
        return False
    if participant.call_status is not None:
        return False  # a duplicate
    participant.call_status = call_status
    # Answered and over, with no join event yet: the status callback can overtake the
    # conference's events, which then tell whether they joined (and end the conference).
    events_to_come = (
        participant.call_sid is not None
        and call_status == "completed"
        and participant.joined_at is None
        and participant.left_at is None
    )
    if participant.joined_at is None and participant.left_at is None and not events_to_come:
        log(
            session,
            escalation,
            "conference_not_reached",
            by=SYSTEM,
            now=now,
            conference=conference.name,
            participant=participant.name,
            kind=participant.kind,
            call_status=call_status,
        )
    session.flush()
    if (
        conference.ended_at is None
        and not events_to_come
        and is_over(participant_states(session, conference.id))
    ):
        close_conference(session, escalation, conference, at=now, reason="nobody on the line")
        return True
    return False


def record_event(
    session: Session, conference_id: int, report: EventReport, *, now: datetime
) -> EventEffect:
    """Apply one conference event; a duplicate, or anything after the end, changes nothing.
    Times come from the event's Timestamp, else ``now``."""
    found = _locked(session, conference_id)
    if found is None:
        return EventEffect.NOTHING
    escalation, conference = found
    participant = None
    if report.call_sid:
        participant = session.scalar(
            select(ConferenceParticipant).where(
                ConferenceParticipant.conference_id == conference.id,
                ConferenceParticipant.call_sid == report.call_sid,
            )
        )
    effect = event_effect(
        report.event,
        is_open=conference.ended_at is None,
        is_participant=participant is not None,
        joined_at=None if participant is None else participant.joined_at,
        left_at=None if participant is None else participant.left_at,
    )
    at = report.at or now
    if effect is EventEffect.KEEP_SID and report.conference_sid:
        conference.conference_sid = conference.conference_sid or report.conference_sid
    elif effect is EventEffect.CLOSE:
        if report.conference_sid:
            conference.conference_sid = conference.conference_sid or report.conference_sid
        close_conference(session, escalation, conference, at=at, reason="ended")
    elif participant is not None and effect is EventEffect.RECORD_JOIN:
        # Out of order, a leave may be in already: the join cannot come after it.
        participant.joined_at = at if participant.left_at is None else min(at, participant.left_at)
        participant.seconds = seconds_between(participant.joined_at, participant.left_at)
        _log_participant(session, escalation, conference, participant, "joined", at)
    elif participant is not None and effect is EventEffect.RECORD_LEAVE:
        joined = participant.joined_at
        participant.left_at = at if joined is None else max(at, joined)
        participant.seconds = seconds_between(joined, participant.left_at)
        _log_participant(session, escalation, conference, participant, "left", at)
    return effect


def join_by_pin(
    session: Session, *, line: str, pin: str, call_sid: str, caller: str | None, now: datetime
) -> JoinTarget | None:
    """A caller on the dial-in line ``line`` typed ``pin``: the open conference they join
    (recorded as a dial-in participant, once per call), or None."""
    conference_id = session.scalar(
        select(EscalationConference.id).where(
            EscalationConference.open_pin == pin, EscalationConference.dial_in_number == line
        )
    )
    if conference_id is None:
        return None
    found = _locked(session, conference_id)
    if found is None:
        return None
    escalation, conference = found
    if conference.ended_at is not None:
        return None  # ended while we looked
    known = session.scalar(
        select(ConferenceParticipant).where(ConferenceParticipant.call_sid == call_sid)
    )
    if known is None:
        session.add(
            ConferenceParticipant(
                conference_id=conference.id,
                kind=ParticipantKind.DIAL_IN.value,
                name=DIAL_IN_NAME,
                # Masked: a stranger's number is kept no longer than needed to tell calls apart.
                number=mask_phone(caller),
                call_sid=call_sid,
                added_at=now,
            )
        )
    elif known.conference_id != conference.id:
        return None
    return _target(escalation, conference)


def _locked(session: Session, conference_id: int) -> tuple[Escalation, EscalationConference] | None:
    escalation_id = session.scalar(
        select(EscalationConference.escalation_id).where(EscalationConference.id == conference_id)
    )
    if escalation_id is None:
        return None
    escalation = locked(session, escalation_id)
    conference = session.scalar(
        select(EscalationConference)
        .where(EscalationConference.id == conference_id)
        .with_for_update()
    )
    assert conference is not None  # conferences go only with their escalation
    return escalation, conference


def _target(escalation: Escalation, conference: EscalationConference) -> JoinTarget:
    return JoinTarget(conference.id, conference.name, escalation.sr_number, conference.region)


def _log_participant(
    session: Session,
    escalation: Escalation,
    conference: EscalationConference,
    participant: ConferenceParticipant,
    what: str,
    at: datetime,
) -> None:
    log(
        session,
        escalation,
        f"conference_participant_{what}",
        by=SYSTEM,
        now=at,
        conference=conference.name,
        participant=participant.name,
        kind=participant.kind,
        seconds=participant.seconds,
    )
