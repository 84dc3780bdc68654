"""The claim benchmark's database: queued callbacks and the agents who claim them.

``fill_queue`` adds the message and callback rows of ``bench._call_history``'s message calls (a
caller pressed the callback key on hold and left a message), the callback queued instead of
done, in one bulk insert a table; only those two tables, as much as claiming reads. The calls
started over the two hours before the fill, so the queue holds promises already broken and
promises still ahead, in the order agents see them (earliest promise first).
``reset_queue`` puts every callback back into the queue between phases, the claim events gone
and the table vacuumed, so each phase starts on an equally filled table.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, text

from bench._call_history import DESCRIPTIONS, NAMES, REGION, History, Ids, caller_pool
from callbacks.models import Callback, CallbackStatus
from db.base import table_of
from db.transaction import make_session_factory, transaction
from intake.catalog import Catalog
from intake.models import Message, Role
from intake.staff import StaffMember, add_user

QUEUE_SPAN = timedelta(hours=2)  # the calls that left the callbacks started over this long
AGENT_PHONE_BASE = 4915199990000


def fill_queue(engine: Engine, catalog: Catalog, callbacks: int, *, seed: int = 15) -> float:
    """Insert ``callbacks`` queued callbacks (with their messages) into a fresh database;
    returns the seconds it took."""
    started = time.perf_counter()
    rng = random.Random(seed)
    history = History(catalog)
    callers = caller_pool(rng)
    first_call = datetime.now(UTC) - QUEUE_SPAN
    spacing = QUEUE_SPAN.total_seconds() / callbacks
    messages, queued = [], []
    for number in range(1, callbacks + 1):
        call = history.message_call(
            f"CA{rng.getrandbits(128):032x}",
            rng.choice(callers),
            first_call + timedelta(seconds=spacing * (number - 1 + rng.random())),
            Ids(*(number,) * 5),
            name=rng.choice(NAMES),
            text=rng.choice(DESCRIPTIONS),
        )
        messages.append(call.rows["messages"])
        queued.append({**call.rows["callbacks"], "status": CallbackStatus.QUEUED.value})
    with engine.begin() as connection:
        connection.execute(insert(table_of(Message)), messages)
        connection.execute(insert(table_of(Callback)), queued)
        if engine.dialect.name == "postgresql":
            for table in ("messages", "callbacks"):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id))"
                        f" FROM {table}"
                    )
                )
    return time.perf_counter() - started


def add_agents(
    engine: Engine, count: int, *, region: str = REGION
) -> list[tuple[StaffMember, str]]:
    """``count`` agents of ``region``, each with a phone, added as ``hotline user add`` does;
    each with their API token."""
    now = datetime.now(UTC)
    with transaction(make_session_factory(engine)) as session:
        return [
            add_user(
                session,
                name=f"Agent {number:02d}",
                role=Role.AGENT,
                now=now,
                phone=f"+{AGENT_PHONE_BASE + number}",
                region=region,
            )
            for number in range(1, count + 1)
        ]


def reset_queue(engine: Engine) -> None:
    """Every callback queued again and unheld, no claim events, the tables vacuumed."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM callback_events"))
        connection.execute(
            text(
                "UPDATE callbacks SET status = :queued, claimed_by_id = NULL, claimed_at = NULL,"
                " claim_expires_at = NULL, updated_at = NULL"
            ),
            {"queued": CallbackStatus.QUEUED.value},
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM (ANALYZE) callbacks, callback_events"))
