"""Taking the next caller: the press-1 turns, who counts as waiting, and the call that rings
the agent."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from db.transaction import read_connection, transaction
from db.unit_of_work import read_then_write
from db.work import WorkItem
from intake.call_steps import FlowState, StepName
from intake.hold import record_queue_bridged
from intake.live_callers import AgentNotReady, caller_waiting, request_next_caller
from intake.models import Call, OutboundCall
from intake.next_caller_flow import (
    LEFT_QUEUE_GRACE,
    MAX_WHISPERS,
    NextCallerAction,
    NextCallerTurn,
    after_whisper,
    is_waiting_in_queue,
)
from intake.outbound_calls import WORK_KIND
from intake.staff import Presence, Role, add_user, set_presence
from tests.conftest import WEDNESDAY_MORNING
from tests.support.calls import read_one

AGENT_PHONE = "+4969123456"
TWO_MINUTES = timedelta(minutes=2)

# -- the press-1 turns (pure) -------------------------------------------------------------------


def test_1_bridges_when_a_caller_waits_and_says_so_when_nobody_does():
    taken = after_whisper(digits="1", attempt=2, caller_waiting=True)
    empty = after_whisper(digits="1", attempt=1, caller_waiting=False)

    assert taken == NextCallerTurn(NextCallerAction.BRIDGE, 2)
    assert empty == NextCallerTurn(NextCallerAction.NOBODY_WAITING, 1)


@pytest.mark.parametrize("digits", [None, "", "2", "#"])
def test_silence_or_another_key_whispers_again_then_gives_up_after_three(digits):
    turns = [
        after_whisper(digits=digits, attempt=attempt, caller_waiting=True)
        for attempt in range(1, MAX_WHISPERS + 1)
    ]

    assert turns == [
        NextCallerTurn(NextCallerAction.WHISPER, 2),
        NextCallerTurn(NextCallerAction.WHISPER, 3),
        NextCallerTurn(NextCallerAction.GIVE_UP, 3),
    ]


# -- who is waiting (pure) ----------------------------------------------------------------------

QUEUED = FlowState(step=StepName.AGENT)


def waiting(state=QUEUED, *, outcome=None, queued_for=timedelta(seconds=30)):
    now = WEDNESDAY_MORNING
    return is_waiting_in_queue(
        state, outcome=outcome, queued_since=now - queued_for, now=now, max_wait=TWO_MINUTES
    )


def test_a_caller_in_the_agent_step_not_yet_taken_is_waiting():
    assert waiting()
    assert waiting(queued_for=TWO_MINUTES + LEFT_QUEUE_GRACE)


def test_callers_taken_leaving_for_a_callback_elsewhere_in_the_flow_or_long_gone_are_not():
    assert not waiting(outcome="agent")
    assert not waiting(FlowState(step=StepName.AGENT, queue_callback=True))
    assert not waiting(FlowState(step=StepName.NAME))
    assert not waiting(queued_for=TWO_MINUTES + LEFT_QUEUE_GRACE + timedelta(seconds=1))


# -- the call that rings the agent ------------------------------------------------------------


@pytest.fixture
def agent_id(deps, clock):
    with transaction(deps.session_factory) as session:
        member, _ = add_user(
            session, name="anna", role=Role.AGENT, phone=AGENT_PHONE, region="de", now=clock.now()
        )
        set_presence(session, user_id=member.id, presence=Presence.AVAILABLE, now=clock.now())
    return member.id


def press(deps, catalog, clock, user_id):
    with transaction(deps.session_factory) as session:
        return request_next_caller(session, user_id=user_id, catalog=catalog, now=clock.now())


def test_each_press_requests_one_call_to_the_agent_from_the_regions_number(
    deps, catalog, clock, agent_id
):
    first = press(deps, catalog, clock, agent_id)
    second = press(deps, catalog, clock, agent_id)

    assert (first.key, second.key) == (f"next-caller:{agent_id}:1", f"next-caller:{agent_id}:2")
    assert first.outbound_call_id != second.outbound_call_id
    with transaction(deps.session_factory) as session:
        row = session.get(OutboundCall, first.outbound_call_id)
        assert row is not None
        assert (row.to_number, row.from_number) == (AGENT_PHONE, "+498001006711")
        assert row.timeout_seconds == catalog.staff_ring_seconds
        assert row.status_callback is None
        url = urlsplit(row.url)
        assert (url.scheme, url.netloc, url.path) == ("", "", "/ivr/agent/next-caller")
        assert parse_qs(url.query) == {"agent": [str(agent_id)], "region": ["de"]}
        work = session.scalars(select(WorkItem.key).where(WorkItem.kind == WORK_KIND)).all()
    assert sorted(work) == sorted(f"{WORK_KIND}:{c.outbound_call_id}" for c in (first, second))


def test_an_agent_without_phone_or_region_is_told_what_is_missing(deps, catalog, clock):
    with transaction(deps.session_factory) as session:
        member, _ = add_user(session, name="ben", role=Role.AGENT, now=clock.now())
        set_presence(session, user_id=member.id, presence=Presence.AVAILABLE, now=clock.now())

    with pytest.raises(AgentNotReady) as refused:
        press(deps, catalog, clock, member.id)

    assert refused.value.missing == ("phone", "region")
    assert "no phone and no region" in refused.value.detail
    assert read_rows_of(deps, OutboundCall) == []


def test_a_region_no_longer_configured_counts_as_missing(deps, catalog, clock):
    with transaction(deps.session_factory) as session:
        member, _ = add_user(
            session, name="cleo", role=Role.AGENT, phone=AGENT_PHONE, region="fr", now=clock.now()
        )
        set_presence(session, user_id=member.id, presence=Presence.AVAILABLE, now=clock.now())

    with pytest.raises(AgentNotReady) as refused:
        press(deps, catalog, clock, member.id)

    assert refused.value.missing == ("region",)
    assert "'fr'" in refused.value.detail


@pytest.mark.parametrize("presence", [Presence.BUSY, Presence.AWAY])
def test_only_an_available_agent_may_ask_for_the_next_caller(
    deps, catalog, clock, agent_id, presence
):
    with transaction(deps.session_factory) as session:
        set_presence(session, user_id=agent_id, presence=presence, now=clock.now())

    with pytest.raises(AgentNotReady) as refused:
        press(deps, catalog, clock, agent_id)

    assert refused.value.presence is presence
    assert f"your presence is {presence.value}" in refused.value.detail
    assert read_rows_of(deps, OutboundCall) == []


def read_rows_of(deps, model):
    with transaction(deps.session_factory) as session:
        return list(session.scalars(select(model)))


# -- who is waiting, read from the calls -------------------------------------------------------


def caller_on_hold(phone):
    walker = phone()
    walker.dial()
    walker.press("1")
    walker.press("4711002#")
    assert walker.listening is not None
    assert walker.listening.in_queue
    return walker


def waits(deps, catalog, clock, region="de"):
    with read_connection(deps.session_factory) as reader:
        return caller_waiting(reader, region=catalog.region(region), now=clock.now())


def test_a_caller_on_hold_waits_in_their_regions_queue_only(
    phone, demo_customers, deps, catalog, clock
):
    assert not waits(deps, catalog, clock)
    caller_on_hold(phone)

    assert waits(deps, catalog, clock)
    assert not waits(deps, catalog, clock, "us")


def test_a_caller_who_hung_up_or_was_taken_no_longer_waits(
    phone, demo_customers, deps, catalog, clock
):
    gone = caller_on_hold(phone)
    gone.hang_up()
    assert not waits(deps, catalog, clock)

    taken = caller_on_hold(phone)
    assert waits(deps, catalog, clock)
    marked = read_then_write(
        deps.session_factory,
        lambda reading: record_queue_bridged(reading, call_sid=taken.call_sid, now=clock.now()),
    )
    again = read_then_write(
        deps.session_factory,
        lambda reading: record_queue_bridged(reading, call_sid=taken.call_sid, now=clock.now()),
    )

    assert marked
    assert again
    assert not waits(deps, catalog, clock)
    with transaction(deps.session_factory) as session:
        assert session.get(Call, taken.call_sid).outcome == "agent"


def test_a_bridge_for_a_call_not_in_the_queue_changes_nothing(phone, demo_customers, deps, clock):
    walker = phone()
    walker.dial()
    walker.press("1")  # asked for the customer number: not in the queue

    marked = read_then_write(
        deps.session_factory,
        lambda reading: record_queue_bridged(reading, call_sid=walker.call_sid, now=clock.now()),
    )
    unknown = read_then_write(
        deps.session_factory,
        lambda reading: record_queue_bridged(reading, call_sid="CA" + "0" * 32, now=clock.now()),
    )

    assert (marked, unknown) == (False, False)
    assert read_one(deps, Call).outcome is None
