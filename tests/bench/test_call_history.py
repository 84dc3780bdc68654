"""The benchmark's history of earlier calls: the rows the app writes, and a database that works."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, Table, select

from bench._call_history import NAMES, Caller, History, Ids
from bench._history_fill import fill_history
from bench._webhook_load import PROFILES, walk_complete_call
from callbacks.models import Callback
from db.base import table_of
from db.work import WorkItem
from intake.call_steps import FlowState, Step
from intake.models import Call, CallTurn, Confirmation, Message, ServiceRequest
from intake.phone_numbers import spoken_digits
from intake.sr_numbers import sr_number_for
from ivr.call_walker import CallWalker
from tests.support.calls import GERMAN_LINE, GERMAN_MOBILE

GERMAN = PROFILES[0]  # the benchmark's German caller: a message, then the SR read back
# Written at other times than the generator's, or only by the worker later on.
TIMES = frozenset(
    {
        "started_at",
        "last_activity_at",
        "settle_after",
        "ended_at",
        "duration_seconds",
        "consent_at",
        "requested_at",
        "callback_asked_at",
        "created_at",
        "updated_at",
        "callback_due_at",
        "due_at",
        "warn_at",
    }
)


def _rows(engine: Engine, model: type[Any], **where: Any) -> list[dict[str, Any]]:
    table: Table = table_of(model)
    query = select(table).where(*(table.c[name] == value for name, value in where.items()))
    with engine.connect() as connection:
        return [
            dict(row) for row in connection.execute(query.order_by(*table.primary_key)).mappings()
        ]


def _one(engine: Engine, model: type[Any], **where: Any) -> dict[str, Any]:
    [row] = _rows(engine, model, **where)
    return row


def _same(made: dict[str, Any], stored: dict[str, Any], *, skip: frozenset[str] = TIMES) -> None:
    assert set(made) <= set(stored), set(made) - set(stored)
    compared = [name for name in made if name not in skip]
    assert {k: made[k] for k in compared} == {k: stored[k] for k in compared}


def _enqueue_action(walker: CallWalker) -> str:
    for body in reversed(walker.responses):
        if "<Enqueue" in body:
            enqueue = ET.fromstring(body).find("Enqueue")
            assert enqueue is not None
            return enqueue.get("action") or ""
    raise AssertionError("the call never reached the agent queue")


def _turns(rows: list[dict[str, Any]]) -> list[tuple[str, int, dict[str, Any]]]:
    return [(row["call_sid"], row["seq"], row["step"]) for row in rows]


def _flow_without_times(flow: dict[str, Any]) -> dict[str, Any]:
    return {**flow, "callback_asked_at": "?" if flow["callback_asked_at"] else None}


def test_a_message_call_of_the_history_has_the_rows_of_the_benchmarks_call(
    phone, demo_customers, deps, catalog, clock
):
    walker = phone(GERMAN.to, GERMAN_MOBILE)
    walk_complete_call(walker, GERMAN)
    engine = deps.engine
    message = _one(engine, Message, call_sid=walker.call_sid)
    sr = _one(engine, ServiceRequest, origin_message_id=message["id"])
    confirmation = _one(engine, Confirmation, message_id=message["id"])
    work = _one(engine, WorkItem, key=confirmation["key"])
    callback = _one(engine, Callback, message_id=message["id"])
    ids = Ids(message["id"], sr["id"], confirmation["id"], work["id"], callback["id"])
    caller = Caller(GERMAN_MOBILE, spoken_digits(GERMAN_MOBILE, country="DE"))

    made = History(catalog).message_call(
        walker.call_sid, caller, clock.now(), ids, name=GERMAN.name, text=GERMAN.description
    )

    assert _turns(_rows(engine, CallTurn, call_sid=walker.call_sid)) == _turns(made.turns())
    call = _one(engine, Call, call_sid=walker.call_sid)
    _same(made.call, call, skip=TIMES | {"flow", "version"})
    assert _flow_without_times(made.call["flow"]) == _flow_without_times(call["flow"])
    _same(made.rows["messages"], message)
    _same(made.rows["service_requests"], sr)
    sent_later = {"status", "provider_id", "provider_status", "attempt_started_at", "sent_at"}
    _same(made.rows["confirmations"], confirmation, skip=TIMES | sent_later | {"delivered_at"})
    done_later = {"state", "attempts", "claimed_by", "finished_at"}
    _same(made.rows["work_items"], work, skip=TIMES | done_later)
    _same(made.rows["callbacks"], callback, skip=TIMES | {"status"})


def test_an_agent_call_of_the_history_has_the_rows_the_app_writes_for_it(
    phone, demo_customers, deps, catalog, clock
):
    walker = phone(GERMAN_LINE, GERMAN_MOBILE)
    walker.dial()
    walker.silence()
    for keys in ("9", "1", "4711999#", "4711998#", "4711001#", "7", "1"):
        walker.press(keys)
    walker.post(_enqueue_action(walker), {"QueueResult": "bridged", "QueueTime": "40"})
    walker.hang_up()
    caller = Caller(GERMAN_MOBILE, spoken_digits(GERMAN_MOBILE, country="DE"))

    made = History(catalog).agent_call(walker.call_sid, caller, clock.now(), timedelta(minutes=5))

    assert _turns(_rows(deps.engine, CallTurn, call_sid=walker.call_sid)) == _turns(made.turns())
    call = _one(deps.engine, Call, call_sid=walker.call_sid)
    _same(made.call, call, skip=TIMES | {"version"})
    assert made.rows == {}
    assert _rows(deps.engine, Message) == []


def test_a_database_holding_a_history_takes_new_calls_and_gives_the_next_sr_number(
    phone, demo_customers, deps, catalog, clock
):
    engine = deps.engine

    report = fill_history(
        engine, catalog, calls=23, until=clock.now(), days=3, batch_calls=10, workers=1
    )

    # Three calls in five leave a message (15 of 23); a transaction a batch, and the last.
    assert report.rows == {
        "calls": 23,
        "call_turns": 230,
        "messages": 15,
        "service_requests": 15,
        "confirmations": 15,
        "work_items": 15,
        "callbacks": 15,
    }
    assert report.transactions == 4
    calls = _rows(engine, Call)
    assert len({c["call_sid"] for c in calls}) == 23
    assert all(c["ended_at"] < clock.now() for c in calls)
    assert max(t["created_at"] for t in _rows(engine, CallTurn)) < clock.now()
    assert all(c["is_settled"] for c in calls)
    for call in calls:
        FlowState.from_json(call["flow"])
    for turn in _rows(engine, CallTurn):
        Step.from_json(turn["step"])
    numbers = [sr["number"] for sr in _rows(engine, ServiceRequest)]
    assert numbers == [sr_number_for(n) for n in range(1, 16)]
    assert {m["contact_name"] for m in _rows(engine, Message)} <= set(NAMES)

    walker = phone(GERMAN.to, GERMAN_MOBILE)
    walk_complete_call(walker, GERMAN)

    assert _one(engine, Call, call_sid=walker.call_sid)["sr_number"] == sr_number_for(16)
    message = _one(engine, Message, call_sid=walker.call_sid)
    assert message["id"] == 16
    assert _one(engine, Confirmation, message_id=16)["id"] == 16
    assert _one(engine, Callback, message_id=16)["id"] == 16


def test_a_column_the_history_leaves_out_gets_its_model_default(deps, catalog, clock, monkeypatch):
    # As a column added later with a default would be: here calls.status_sequence (-1).
    made = History._call

    def without_sequence(self: History, *args: Any) -> dict[str, Any]:
        row = made(self, *args)
        del row["status_sequence"]
        return row

    monkeypatch.setattr(History, "_call", without_sequence)

    fill_history(deps.engine, catalog, calls=3, until=clock.now(), days=1, workers=1)

    assert {c["status_sequence"] for c in _rows(deps.engine, Call)} == {-1}
