"""The call store: the only code that reads and writes calls, their turns and their messages' rows.

The rule that keeps concurrent webhooks of one call apart lives here: every write of a call
row raises ``calls.version`` and is made only if the version is still the one read
(``save``); a call changed meanwhile (a duplicate webhook, a status callback) raises
``Conflict``, and ``db.unit_of_work`` decides the request again, locked. Nothing else writes
``calls``: the services take and give ``CallRecord`` values and hand them back to ``save``.
The statements are built once (they run on every webhook).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, bindparam, insert, select, update

from db.base import table_of
from db.prepared import Prepared
from db.unit_of_work import Conflict, Reading
from intake.call_steps import FlowState, Step
from intake.catalog import Region
from intake.models import Call, CallTurn, Message

# Without a status callback, a call quiet this long is taken as ended. The longest quiet spell
# of a live call is the description: a prompt and up to 60 s of speech. The worker's sweep runs
# every 15 s, so a call that ended without its status callback is settled within 2 minutes.
# A live call settled early keeps its SR: later answers are brought to it as they come.
ABANDONED_AFTER = timedelta(seconds=90)
# A caller may talk to an agent for a long time with no webhook at all; Twilio ends any call
# after 4 hours, so only then is such a call settled without its status callback.
AGENT_CALL_LIMIT = timedelta(hours=4)


@dataclass(frozen=True)
class CallRecord:
    """One call's row (see ``intake.models.Call``)."""

    call_sid: str
    region: str
    language: str
    from_number: str | None
    to_number: str
    started_at: datetime
    last_activity_at: datetime
    settle_after: datetime
    ended_at: datetime | None
    status: str
    status_sequence: int
    duration_seconds: int | None
    flow: dict[str, Any]
    turn: int
    customer_number: str | None
    product: str | None
    product_line: str | None
    is_identified: bool
    outcome: str | None
    sr_number: str | None
    is_settled: bool
    version: int

    @property
    def state(self) -> FlowState:
        """Where the caller's flow stands."""
        return FlowState.from_json(self.flow)


@dataclass(frozen=True)
class MessageRecord:
    """What the turns need of the call's message (the whole row is ``intake.models.Message``)."""

    id: int
    customer_number: str | None
    company: str | None
    callback_number: str | None
    recording_consent: bool | None
    sr_number: str | None
    is_submitted: bool


@dataclass(frozen=True)
class OpenCall:
    """A call that has neither ended nor been settled: what says whether it waits in a queue."""

    call_sid: str
    state: FlowState
    outcome: str | None
    last_activity_at: datetime


@dataclass(frozen=True)
class StoredCall:
    """A call as loaded, with its message if the caller began one."""

    call: CallRecord
    message: MessageRecord | None


def new_call(
    call_sid: str,
    region: Region,
    *,
    to_number: str,
    from_number: str | None,
    started_at: datetime,
) -> CallRecord:
    """A call to ``region``'s number as it starts (the one way a call row is made)."""
    return CallRecord(
        call_sid=call_sid,
        region=region.key,
        language=region.language,
        from_number=from_number,
        to_number=to_number,
        started_at=started_at,
        last_activity_at=started_at,
        settle_after=started_at + ABANDONED_AFTER,
        ended_at=None,
        status="in-progress",
        status_sequence=-1,
        duration_seconds=None,
        flow={},
        turn=0,
        customer_number=None,
        product=None,
        product_line=None,
        is_identified=False,
        outcome=None,
        sr_number=None,
        is_settled=False,
        version=0,
    )


_CALL_FIELDS = tuple(f.name for f in fields(CallRecord))
_MESSAGE_FIELDS = tuple(f.name for f in fields(MessageRecord))


class CallStore:
    """Calls, turns and message rows on one connection."""

    def __init__(self, connection: Connection, *, lock: bool = False) -> None:
        self._connection = connection
        self._lock = lock

    @classmethod
    def reading(cls, reading: Reading) -> CallStore:
        """The store for a unit of work's read (rows locked when it is the locked try)."""
        return cls(reading.connection, lock=reading.is_locked)

    def load(self, call_sid: str) -> StoredCall | None:
        """The call and its message; locked on PostgreSQL when this store locks.

        (SQLite has no row locks: a locked unit of work holds the single writer lock.)
        """
        statements = _statements()
        query = statements.load_locked if self._lock else statements.load
        row = query.first(self._connection, {"call_sid": call_sid})
        if row is None:
            return None
        call = CallRecord(**{name: row[name] for name in _CALL_FIELDS})
        if row["message_id"] is None:
            return StoredCall(call, None)
        message = MessageRecord(**{name: row[f"message_{name}"] for name in _MESSAGE_FIELDS})
        return StoredCall(call, message)

    def region_of(self, call_sid: str) -> tuple[str, str] | None:
        """The call's region and language (the hold loop needs no more)."""
        row = self._connection.execute(_statements().region, {"call_sid": call_sid}).first()
        return (row.region, row.language) if row is not None else None

    def open_calls(self, region: str) -> list[OpenCall]:
        """The region's calls not ended and not settled, oldest first (few: live calls only)."""
        rows = self._connection.execute(_statements().open_calls, {"region": region})
        return [
            OpenCall(
                call_sid=row.call_sid,
                state=FlowState.from_json(row.flow),
                outcome=row.outcome,
                last_activity_at=row.last_activity_at,
            )
            for row in rows
        ]

    def answered_step(self, call_sid: str, seq: int) -> Step:
        """The step stored as the answer to turn ``seq``."""
        stored = self._connection.execute(
            _statements().turn_step, {"call_sid": call_sid, "seq": seq}
        ).scalar_one()
        return Step.from_json(stored)

    def save(self, before: CallRecord | None, after: CallRecord) -> None:
        """Store ``after``: a new call (``before`` None, stored at version 1), or the changes
        since ``before`` (stored at ``before.version + 1``).

        Raises ``Conflict`` when the call is no longer at ``before.version``; a new call that
        another request stored first raises the database's ``IntegrityError``.
        """
        statements = _statements()
        # A record's fields are its columns; its __dict__ holds exactly them (read, never
        # changed here). Held under SQLite's writer lock: no copies field by field.
        values = vars(after)
        if before is None:
            statements.insert_call.rowcount(self._connection, {**values, "version": 1})
            return
        if after.call_sid != before.call_sid or after.version != before.version:
            raise ValueError("save() takes the call as loaded and the same call changed")
        was = vars(before)
        params = {name: value for name, value in values.items() if was[name] != value}
        params.update(
            version=before.version + 1, b_call_sid=before.call_sid, b_version=before.version
        )
        if statements.update_call.rowcount(self._connection, params) != 1:
            raise Conflict(before.call_sid)

    def add_turn(self, call_sid: str, seq: int, step: Step, *, at: datetime) -> None:
        """Store the answer given to turn ``seq``, to be replayed if Twilio asks again."""
        values = {"call_sid": call_sid, "seq": seq, "step": step.to_json(), "created_at": at}
        _statements().insert_turn.rowcount(self._connection, values)

    def add_message(self, values: dict[str, Any]) -> int:
        """Insert the call's message; its id."""
        message_id: int = _statements().insert_message.scalar(self._connection, values)
        return message_id

    def update_message(self, message_id: int, changes: dict[str, Any]) -> None:
        """Store answered fields on the message."""
        _statements().update_message.rowcount(self._connection, {**changes, "b_id": message_id})


@dataclass(frozen=True)
class _Statements:
    # Read on every webhook (``db.prepared``).
    load: Prepared
    load_locked: Prepared  # FOR UPDATE OF calls (PostgreSQL; SQLite has none)
    turn_step: Select[Any]
    region: Select[Any]
    open_calls: Select[Any]  # region
    # The writes, run while SQLite's writer lock is held (``db.prepared``).
    insert_call: Prepared
    update_call: Prepared  # only at the version read: b_call_sid, b_version
    insert_turn: Prepared
    insert_message: Prepared  # RETURNING id
    update_message: Prepared  # b_id


@cache
def _statements() -> _Statements:
    calls, turns, messages = table_of(Call), table_of(CallTurn), table_of(Message)
    message_columns = [messages.c[name].label(f"message_{name}") for name in _MESSAGE_FIELDS]
    load = (
        select(*(calls.c[name] for name in _CALL_FIELDS), *message_columns)
        .select_from(calls.outerjoin(messages, messages.c.call_sid == calls.c.call_sid))
        .where(calls.c.call_sid == bindparam("call_sid"))
    )
    return _Statements(
        load=Prepared(load),
        load_locked=Prepared(load.with_for_update(of=calls)),
        turn_step=select(turns.c.step).where(
            turns.c.call_sid == bindparam("call_sid"), turns.c.seq == bindparam("seq")
        ),
        region=select(calls.c.region, calls.c.language).where(
            calls.c.call_sid == bindparam("call_sid")
        ),
        # Unsettled calls are found through ix_calls_unsettled; ended ones are nearly all settled.
        open_calls=select(calls.c.call_sid, calls.c.flow, calls.c.outcome, calls.c.last_activity_at)
        .where(
            calls.c.is_settled.is_(False),
            calls.c.ended_at.is_(None),
            calls.c.region == bindparam("region"),
        )
        .order_by(calls.c.started_at, calls.c.call_sid),
        insert_call=Prepared(insert(calls)),
        update_call=Prepared(
            update(calls).where(
                calls.c.call_sid == bindparam("b_call_sid"),
                calls.c.version == bindparam("b_version"),
            )
        ),
        insert_turn=Prepared(insert(turns)),
        insert_message=Prepared(insert(messages).returning(messages.c.id)),
        update_message=Prepared(update(messages).where(messages.c.id == bindparam("b_id"))),
    )
