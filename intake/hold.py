"""A caller on hold for an agent: how long they may wait, when they hear their place in the
queue, the key that asks for a callback, and the agent who takes them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from db.unit_of_work import Done, Reading, Statements, Write
from intake.call_input import CallContext
from intake.call_steps import StepName
from intake.call_store import CallStore
from intake.catalog import Catalog
from intake.settlement import settle_ended_call

# A caller on hold hears their place in the queue when they join, then again once at least
# this much of their time in the queue has passed since they last heard it.
POSITION_EVERY_SECONDS = 60
# The shortest hold round (a 20 s pause after the announcement): how far the time in the queue
# has moved at least when a round's request came without Twilio's QueueTime.
SHORTEST_HOLD_ROUND_SECONDS = 20


@dataclass(frozen=True)
class QueueWait:
    """What to do with a caller waiting for an agent.

    ``position``: the place in the queue to tell the caller now, if any; ``announced_at``: the
    time in the queue (seconds) when they last heard it, carried to the next round.
    """

    leave: bool
    region: str
    language: str
    position: int | None = None
    announced_at: int | None = None


def queue_wait(
    reader: Connection,
    *,
    call_sid: str,
    queue_seconds: int,
    catalog: Catalog,
    position: int | None = None,
    announced_at: int | None = None,
) -> QueueWait | None:
    """Keep a queued caller waiting until the region's maximum wait, then take a message.

    ``position`` is Twilio's QueuePosition, ``announced_at`` the time in the queue when the
    caller last heard it. Only reads: the hold loop asks every few seconds and nothing about
    the call changes.
    """
    found = CallStore(reader).region_of(call_sid)
    if found is None:
        return None
    region_key, language = found
    region = catalog.region(region_key)
    leave = queue_seconds >= region.agent_line.max_wait.total_seconds()
    if leave:
        return QueueWait(leave=True, region=region_key, language=language)
    told = position_to_announce(position, queue_seconds=queue_seconds, announced_at=announced_at)
    return QueueWait(
        leave=False,
        region=region_key,
        language=language,
        position=told,
        announced_at=queue_seconds if told is not None else announced_at,
    )


def time_in_queue(reported: int | None, *, round_began_at: int | None) -> int:
    """The caller's time in the queue (seconds): Twilio's QueueTime, or else at least the time
    the last round began at plus the shortest round, so the maximum wait still ends the wait."""
    if reported is not None:
        return reported
    if round_began_at is not None:
        return round_began_at + SHORTEST_HOLD_ROUND_SECONDS
    return 0


def position_to_announce(
    position: int | None, *, queue_seconds: int, announced_at: int | None
) -> int | None:
    """The place in the queue to tell the caller now: when they join, then about once a minute."""
    if position is None or position < 1:
        return None
    if announced_at is None or queue_seconds - announced_at >= POSITION_EVERY_SECONDS:
        return position
    return None


def request_queue_callback(
    reading: Reading, *, call_sid: str, context: CallContext
) -> Done[bool] | Write[bool] | Statements[bool]:
    """The caller on hold pressed the callback key: leave the queue, keep the place in line.

    The callback promise counts from this key press. A key press that arrives after the call
    was settled (its status callback came first) is kept all the same: the call is settled
    again, with the callback it now owes.
    """
    now = context.now
    stored = CallStore.reading(reading).load(call_sid)
    if stored is None:
        return Done(False)
    call = stored.call
    state = call.state
    if state.queue_callback:
        return Done(True)  # pressed (or posted) twice: the first press counts
    asked = replace(state, queue_callback=True, callback_asked_at=now)
    after = replace(call, flow=asked.to_json(), last_activity_at=now)

    if not call.is_settled:

        def save(connection: Connection) -> bool:
            CallStore(connection).save(call, after)
            return True

        return Statements(save)

    def settle(session: Session) -> bool:
        settled = settle_ended_call(session, after, context=context)
        CallStore(session.connection()).save(call, settled)
        return True

    return settle


def record_queue_bridged(
    reading: Reading, *, call_sid: str, now: datetime
) -> Done[bool] | Statements[bool]:
    """An agent's ``<Dial><Queue>`` took this caller: they are no longer waiting.

    Their outcome is "agent" from now on (as the queue's result "bridged" will say when the
    call ends), so the next agent asking for a caller is not sent to one who is talking.
    """
    stored = CallStore.reading(reading).load(call_sid)
    if stored is None:
        return Done(False)
    call = stored.call
    if call.outcome == "agent" or call.state.step is not StepName.AGENT:
        return Done(call.outcome == "agent")
    after = replace(call, outcome="agent", last_activity_at=now)

    def save(connection: Connection) -> bool:
        CallStore(connection).save(call, after)
        return True

    return Statements(save)
