"""Conference calls on the database: who is dialled and how, one open conference per
escalation, PINs, and Twilio's reports applied once each."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from db.transaction import transaction
from db.work import WorkItem
from escalations.conference_calls import (
    EventReport,
    answer_leg,
    end_leg,
    join_by_pin,
    record_event,
)
from escalations.conference_records import (
    ConferenceParticipant,
    EscalationConference,
    ParticipantKind,
)
from escalations.conference_rules import EventEffect, LegReply, ParticipantState
from escalations.conferences import (
    ConferenceView,
    Invitee,
    ParticipantRefused,
    conference_view,
    free_pin,
    start_conference,
)
from escalations.history import SYSTEM, Actor
from escalations.lifecycle import MoveRefused
from escalations.queries import escalation_detail
from escalations.records import EscalationEvent, EscalationReason
from escalations.services import raise_escalation
from intake.models import OutboundCall, OutboundCallStatus
from intake.outbound_calls import WORK_KIND
from tests.support.conference_rows import (
    BERLIN_LANDLINE,
    DIAL_IN_LINE,
    EVA_PHONE,
    MIA_PHONE,
    escalation_for_conference,
    with_dial_in,
)
from tests.support.intake_rows import GERMAN_MOBILE, submit_request

CUSTOMER = Invitee(ParticipantKind.CUSTOMER)
ENGINEER = Invitee(ParticipantKind.ENGINEER)
MANAGER = Invitee(ParticipantKind.DUTY_MANAGER)
EVERYONE = (CUSTOMER, ENGINEER, MANAGER)


@pytest.fixture
def esc(deps, catalog, clock):
    with transaction(deps.session_factory) as session:
        return escalation_for_conference(session, catalog=catalog, now=clock.now())


def start(deps, catalog, clock, escalation_id, invitees=EVERYONE, by=None) -> ConferenceView:
    with transaction(deps.session_factory) as session:
        return start_conference(
            session,
            escalation_id,
            invitees=list(invitees),
            by=by or Actor("mia", None),
            now=clock.now(),
            catalog=catalog,
        )


def actions(deps, escalation_id: int) -> list[str]:
    with transaction(deps.session_factory) as session:
        return list(
            session.scalars(
                select(EscalationEvent.action)
                .where(EscalationEvent.escalation_id == escalation_id)
                .order_by(EscalationEvent.id)
            )
        )


def view(deps, conference_id: int) -> ConferenceView:
    with transaction(deps.session_factory) as session:
        found = conference_view(session, conference_id)
    assert found is not None
    return found


def pick_up(deps, conference: ConferenceView) -> dict[str, str]:
    """Every dialled participant picks up: their CallSids by kind."""
    sids = {}
    with transaction(deps.session_factory) as session:
        for p in conference.participants:
            sids[p.kind] = f"CA{p.id:032d}"
            answer = answer_leg(session, conference.id, p.id, call_sid=sids[p.kind])
            assert answer.reply is LegReply.JOIN
    return sids


def event(deps, clock, conference_id, what, call_sid=None, at=None) -> EventEffect:
    report = EventReport(what, call_sid, "CF" + "1" * 32, at)
    with transaction(deps.session_factory) as session:
        return record_event(session, conference_id, report, now=clock.now())


def test_starting_a_conference_records_each_call_before_the_worker_places_it(
    deps, catalog, clock, esc
) -> None:
    other = Invitee(ParticipantKind.OTHER, "030 12345678", "Storage Corp")
    conference = start(deps, catalog, clock, esc.id, (*EVERYONE, other))

    assert conference.name == f"escalation-{esc.id}-1"
    assert len(conference.pin) == 6
    assert conference.pin.isdigit()
    assert conference.dial_in_number is None  # the shipped regions have no dial-in line
    assert [(p.kind, p.name, p.number, p.state) for p in conference.participants] == [
        ("customer", "Erika Mustermann", GERMAN_MOBILE, ParticipantState.DIALLING),
        ("engineer", "eva", EVA_PHONE, ParticipantState.DIALLING),
        ("duty_manager", "mia", MIA_PHONE, ParticipantState.DIALLING),
        ("other", "Storage Corp", BERLIN_LANDLINE, ParticipantState.DIALLING),
    ]
    with transaction(deps.session_factory) as session:
        calls = list(session.scalars(select(OutboundCall).order_by(OutboundCall.id)))
        work = list(session.scalars(select(WorkItem).where(WorkItem.kind == WORK_KIND)))
    assert len(work) == 4
    for call, participant in zip(calls, conference.participants, strict=True):
        query = f"conference={conference.id}&participant={participant.id}"
        assert call.key == f"conference:{conference.id}:{participant.id}"
        assert (call.to_number, call.from_number) == (participant.number, "+498001006711")
        assert call.url == f"/ivr/conference/leg?{query}"
        assert call.status_callback == f"/ivr/conference/leg/status?{query}"
        assert call.timeout_seconds == catalog.staff_ring_seconds
        assert call.status == OutboundCallStatus.PENDING.value
    assert actions(deps, esc.id)[-1] == "start_conference"


def test_the_customer_is_dialled_on_the_escalations_contact_number_first(
    deps, catalog, clock
) -> None:
    with transaction(deps.session_factory) as session:
        esc = escalation_for_conference(
            session, catalog=catalog, now=clock.now(), contact_number="+4915177778888"
        )
    conference = start(deps, catalog, clock, esc.id, [CUSTOMER])
    assert [p.number for p in conference.participants] == ["+4915177778888"]


def test_a_conference_is_refused_unless_the_escalation_is_accepted(deps, catalog, clock) -> None:
    with transaction(deps.session_factory) as session:
        sr = submit_request(session, catalog=catalog, now=clock.now())
        raised, _ = raise_escalation(
            session,
            sr_number=sr,
            reason=EscalationReason.OTHER,
            by=SYSTEM,
            raised_by_kind="staff",
            now=clock.now(),
        )
    with pytest.raises(MoveRefused) as refused:
        start(deps, catalog, clock, raised.id, [CUSTOMER])
    assert refused.value.reasons == [
        "cannot start_conference an escalation that is raised (accepted)"
    ]
    with transaction(deps.session_factory) as session:
        assert session.scalars(select(EscalationConference)).all() == []
        assert session.scalars(select(OutboundCall)).all() == []


@pytest.mark.parametrize(
    ("setup", "invitee", "field", "message"),
    [
        ({"with_engineer": False}, ENGINEER, "participants[0]", "no escalation engineer is"),
        ({"engineer_phone": None}, ENGINEER, "participants[0]", "eva (escalation engineer) has no"),
        (
            {},
            Invitee(ParticipantKind.OTHER, "09001234567"),
            "participants[0].number",
            "the number is a premium-rate number",
        ),
        (
            {},
            Invitee(ParticipantKind.OTHER, "+442079460958"),
            "participants[0].number",
            "the number is outside the countries the region calls",
        ),
        (
            {},
            Invitee(ParticipantKind.OTHER, "0800 1006711"),
            "participants[0].number",
            "the number is one of the hotline's own numbers",
        ),
        ({}, Invitee(ParticipantKind.OTHER, "0151-1234"), "participants[0].number", "not a valid"),
        ({}, Invitee(ParticipantKind.DIAL_IN), "participants[0].role", "dial in themselves"),
    ],
)
def test_a_participant_who_cannot_be_dialled_is_refused_naming_why(
    deps, catalog, clock, setup, invitee, field, message
) -> None:
    with transaction(deps.session_factory) as session:
        esc = escalation_for_conference(session, catalog=catalog, now=clock.now(), **setup)
    before = actions(deps, esc.id)

    with pytest.raises(ParticipantRefused) as refused:
        start(deps, catalog, clock, esc.id, [invitee])

    assert refused.value.field == field
    assert message in str(refused.value)
    assert actions(deps, esc.id) == before  # nothing written, nobody dialled
    with transaction(deps.session_factory) as session:
        assert session.scalars(select(OutboundCall)).all() == []


def test_a_second_start_adds_to_the_open_conference_and_dials_nobody_twice(
    deps, catalog, clock, esc
) -> None:
    first = start(deps, catalog, clock, esc.id, [CUSTOMER, ENGINEER])
    other = Invitee(ParticipantKind.OTHER, BERLIN_LANDLINE, "Storage Corp")
    second = start(deps, catalog, clock, esc.id, [ENGINEER, other])

    assert (second.id, second.name, second.pin) == (first.id, first.name, first.pin)
    assert [p.kind for p in second.participants] == ["customer", "engineer", "other"]
    assert actions(deps, esc.id)[-2:] == ["start_conference", "add_to_conference"]

    # Nobody new to dial: nothing happens at all.
    assert start(deps, catalog, clock, esc.id, [CUSTOMER]) == second
    assert actions(deps, esc.id)[-1] == "add_to_conference"

    # The engineer did not answer: asking again dials them again.
    engineer = second.participants[1]
    with transaction(deps.session_factory) as session:
        end_leg(session, first.id, engineer.id, call_status="no-answer", now=clock.now())
    third = start(deps, catalog, clock, esc.id, [ENGINEER])
    assert [(p.kind, p.state) for p in third.participants] == [
        ("customer", ParticipantState.DIALLING),
        ("engineer", ParticipantState.NOT_REACHED),
        ("other", ParticipantState.DIALLING),
        ("engineer", ParticipantState.DIALLING),
    ]


def test_an_open_conference_whose_calls_all_failed_is_closed_before_a_new_one(
    deps, catalog, clock, esc
) -> None:
    first = start(deps, catalog, clock, esc.id, [CUSTOMER])
    with transaction(deps.session_factory) as session:
        # The worker gave up placing the call: no status callback will ever come.
        call = session.scalars(select(OutboundCall)).one()
        call.status = OutboundCallStatus.FAILED.value
    clock.advance(minutes=5)

    second = start(deps, catalog, clock, esc.id, [CUSTOMER])

    assert second.id != first.id
    assert second.name == f"escalation-{esc.id}-2"
    closed = view(deps, first.id)
    assert closed.ended_at == clock.now()
    assert closed.participants[0].state is ParticipantState.NOT_REACHED
    assert closed.participants[0].call_status == "failed"
    assert actions(deps, esc.id)[-2:] == ["conference_ended", "start_conference"]


def test_a_call_that_may_have_been_placed_is_never_dialled_again(deps, catalog, clock, esc) -> None:
    first = start(deps, catalog, clock, esc.id, [CUSTOMER])
    with transaction(deps.session_factory) as session:
        # The worker died while asking Twilio: the customer's phone may be ringing.
        call = session.scalars(select(OutboundCall)).one()
        call.status = OutboundCallStatus.UNCERTAIN.value
    clock.advance(minutes=5)

    second = start(deps, catalog, clock, esc.id, [CUSTOMER])

    assert second.id == first.id  # not closed as if nobody were on the line
    [customer] = second.participants
    assert (customer.state, customer.call_status) == (ParticipantState.DIALLING, "uncertain")
    with transaction(deps.session_factory) as session:
        assert len(session.scalars(select(OutboundCall)).all()) == 1  # nobody dialled twice


def test_a_pin_is_never_that_of_another_open_conference(deps, catalog, clock, esc) -> None:
    conference = start(deps, catalog, clock, esc.id, [CUSTOMER])
    draws = iter([conference.pin, conference.pin, "004711"])
    with transaction(deps.session_factory) as session:
        assert free_pin(session, draw=lambda: next(draws)) == "004711"


def test_the_database_refuses_two_open_conferences_with_one_pin(deps, catalog, clock, esc) -> None:
    conference = start(deps, catalog, clock, esc.id, [CUSTOMER])

    def twin(session, *, open_pin):
        session.add(
            EscalationConference(
                escalation_id=esc.id,
                seq=9,
                name="twin",
                region="de",
                pin=conference.pin,
                open_pin=open_pin,
                started_by="mia",
                started_at=clock.now(),
            )
        )

    with pytest.raises(IntegrityError), transaction(deps.session_factory) as session:
        twin(session, open_pin=conference.pin)
    with transaction(deps.session_factory) as session:
        twin(session, open_pin=None)  # an ended conference may have had the same PIN


def test_joins_and_leaves_are_recorded_once_with_the_events_times(
    deps, catalog, clock, esc
) -> None:
    conference = start(deps, catalog, clock, esc.id)
    sids = pick_up(deps, conference)
    t0 = clock.now() + timedelta(seconds=20)

    assert event(deps, clock, conference.id, "conference-start", at=t0) is EventEffect.KEEP_SID
    for kind in ("customer", "engineer", "duty_manager"):
        assert event(deps, clock, conference.id, "participant-join", sids[kind], t0)
    again = event(deps, clock, conference.id, "participant-join", sids["customer"], t0)
    assert again is EventEffect.NOTHING
    left = event(
        deps,
        clock,
        conference.id,
        "participant-leave",
        sids["customer"],
        t0 + timedelta(minutes=10),
    )
    assert left is EventEffect.RECORD_LEAVE
    twice = event(deps, clock, conference.id, "participant-leave", sids["customer"], t0)
    assert twice is EventEffect.NOTHING
    stranger = event(deps, clock, conference.id, "participant-join", "CA" + "f" * 32, t0)
    assert stranger is EventEffect.NOTHING

    # No Timestamp: the injected clock says when.
    clock.set(t0 + timedelta(minutes=25))
    assert event(deps, clock, conference.id, "conference-end") is EventEffect.CLOSE
    late = event(deps, clock, conference.id, "participant-leave", sids["engineer"])
    assert late is EventEffect.NOTHING

    done = view(deps, conference.id)
    assert done.ended_at == t0 + timedelta(minutes=25)
    assert [(p.kind, p.state, p.seconds) for p in done.participants] == [
        ("customer", ParticipantState.LEFT, 600),
        ("engineer", ParticipantState.LEFT, 1500),
        ("duty_manager", ParticipantState.LEFT, 1500),
    ]
    assert actions(deps, esc.id)[-6:] == [
        "start_conference",
        "conference_participant_joined",
        "conference_participant_joined",
        "conference_participant_joined",
        "conference_participant_left",
        "conference_ended",
    ]
    with transaction(deps.session_factory) as session:
        row = session.get(EscalationConference, conference.id)
        assert row is not None
        assert (row.open_pin, row.conference_sid) == (None, "CF" + "1" * 32)
        detail = escalation_detail(session, esc.id, now=clock.now())
    assert detail is not None
    assert detail.conferences == [done]


def test_a_leave_reported_before_its_join_still_gives_the_time_on_the_call(
    deps, catalog, clock, esc
) -> None:
    conference = start(deps, catalog, clock, esc.id, [CUSTOMER, ENGINEER])
    sids = pick_up(deps, conference)
    t0 = clock.now()
    later = t0 + timedelta(seconds=30)
    event(deps, clock, conference.id, "participant-leave", sids["customer"], later)
    event(deps, clock, conference.id, "participant-join", sids["customer"], t0)
    customer = view(deps, conference.id).participants[0]
    assert (customer.joined_at, customer.left_at, customer.seconds) == (t0, later, 30)


def test_a_call_that_ended_before_its_join_was_reported_still_gets_its_time(
    deps, catalog, clock, esc
) -> None:
    conference = start(deps, catalog, clock, esc.id, [ENGINEER])
    sids = pick_up(deps, conference)
    [engineer] = conference.participants
    t0 = clock.now()
    with transaction(deps.session_factory) as session:
        # The leg's status callback overtakes the conference's events.
        assert not end_leg(session, conference.id, engineer.id, call_status="completed", now=t0)
    event(deps, clock, conference.id, "participant-join", sids["engineer"], t0)
    event(
        deps,
        clock,
        conference.id,
        "participant-leave",
        sids["engineer"],
        t0 + timedelta(minutes=10),
    )
    assert event(deps, clock, conference.id, "conference-end", at=t0 + timedelta(minutes=10)) is (
        EventEffect.CLOSE
    )

    done = view(deps, conference.id)
    assert [(p.state, p.seconds) for p in done.participants] == [(ParticipantState.LEFT, 600)]
    assert "conference_not_reached" not in actions(deps, esc.id)


def test_a_conference_nobody_answered_ends_with_the_last_calls_status(
    deps, catalog, clock, esc
) -> None:
    conference = start(deps, catalog, clock, esc.id, [CUSTOMER, ENGINEER])
    customer, engineer = conference.participants

    with transaction(deps.session_factory) as session:
        assert not end_leg(
            session, conference.id, customer.id, call_status="ringing", now=clock.now()
        )
        assert not end_leg(
            session, conference.id, customer.id, call_status="no-answer", now=clock.now()
        )
        assert not end_leg(session, conference.id, customer.id, call_status="busy", now=clock.now())
    with transaction(deps.session_factory) as session:
        assert end_leg(session, conference.id, engineer.id, call_status="busy", now=clock.now())

    ended = view(deps, conference.id)
    assert ended.ended_at == clock.now()
    assert [(p.state, p.call_status) for p in ended.participants] == [
        (ParticipantState.NOT_REACHED, "no-answer"),
        (ParticipantState.NOT_REACHED, "busy"),
    ]
    assert actions(deps, esc.id)[-3:] == [
        "conference_not_reached",
        "conference_not_reached",
        "conference_ended",
    ]
    # The phone picked up after all: the conference is over.
    with transaction(deps.session_factory) as session:
        late = answer_leg(session, conference.id, customer.id, call_sid="CA" + "9" * 32)
    assert late.reply is LegReply.GONE


def test_a_participant_who_left_does_not_end_the_conference_while_others_are_on(
    deps, catalog, clock, esc
) -> None:
    conference = start(deps, catalog, clock, esc.id, [CUSTOMER, ENGINEER])
    sids = pick_up(deps, conference)
    for kind in sids:
        event(deps, clock, conference.id, "participant-join", sids[kind])
    event(deps, clock, conference.id, "participant-leave", sids["customer"])
    customer = conference.participants[0]
    with transaction(deps.session_factory) as session:
        closed = end_leg(
            session, conference.id, customer.id, call_status="completed", now=clock.now()
        )
    assert not closed
    assert view(deps, conference.id).ended_at is None


def test_a_caller_with_the_pin_on_the_dial_in_line_joins_once(deps, catalog, clock) -> None:
    dial_in = with_dial_in(catalog)
    with transaction(deps.session_factory) as session:
        esc = escalation_for_conference(session, catalog=dial_in, now=clock.now())
    conference = start(deps, dial_in, clock, esc.id, [ENGINEER])
    assert conference.dial_in_number == DIAL_IN_LINE
    sid = "CA" + "d" * 32

    def join(line=DIAL_IN_LINE, pin=conference.pin):
        with transaction(deps.session_factory) as session:
            return join_by_pin(
                session, line=line, pin=pin, call_sid=sid, caller=GERMAN_MOBILE, now=clock.now()
            )

    assert join(pin="000000" if conference.pin != "000000" else "000001") is None
    assert join(line="+498001006711") is None  # the PIN belongs to this line only
    target = join()
    assert target is not None
    assert (target.conference_id, target.name, target.sr_number) == (
        conference.id,
        conference.name,
        esc.sr_number,
    )
    assert join() == target  # Twilio sent the same webhook twice
    [_, caller] = view(deps, conference.id).participants
    assert (caller.kind, caller.name, caller.number) == ("dial_in", "dial-in caller", "***678")

    event(deps, clock, conference.id, "participant-join", sid)
    assert view(deps, conference.id).participants[1].state is ParticipantState.ON_CALL
    event(deps, clock, conference.id, "conference-end")
    assert join() is None  # the conference is over
    with transaction(deps.session_factory) as session:
        assert len(session.scalars(select(ConferenceParticipant)).all()) == 2
