"""A caller on hold for an agent: how long they may wait, and the key that asks for a callback."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from db.unit_of_work import Done, Reading, Write
from intake.call_input import CallContext
from intake.call_store import CallStore
from intake.catalog import Catalog
from intake.settlement import settle_ended_call


@dataclass(frozen=True)
class QueueWait:
    """What to do with a caller waiting for an agent."""

    leave: bool
    region: str
    language: str


def queue_wait(
    reader: Connection, *, call_sid: str, queue_seconds: int, catalog: Catalog
) -> QueueWait | None:
    """Keep a queued caller waiting until the region's maximum wait, then take a message.

    Only reads: the hold loop asks every few seconds and nothing about the call changes.
    """
    found = CallStore(reader).region_of(call_sid)
    if found is None:
        return None
    region_key, language = found
    region = catalog.region(region_key)
    leave = queue_seconds >= region.agent_line.max_wait.total_seconds()
    return QueueWait(leave=leave, region=region_key, language=language)


def request_queue_callback(
    reading: Reading, *, call_sid: str, context: CallContext
) -> Done[bool] | Write[bool]:
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

    def write(session: Session) -> bool:
        settled = settle_ended_call(session, after, context=context) if call.is_settled else after
        CallStore(session.connection()).save(call, settled)
        return True

    return write
