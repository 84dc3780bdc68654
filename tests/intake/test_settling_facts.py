"""What settling a message reads is read before the write transaction, and read again in it
when the message no longer matches (SQLite's writer lock is held for the writes alone)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event, select

from config.dependencies import Dependencies
from db.engine import SNAPSHOT_OPTION
from db.transaction import transaction
from intake.call_steps import MessageKind
from intake.call_store import new_call
from intake.messages import new_message_values, record_field
from intake.models import Confirmation, Message
from intake.settlement import settle_message, settling_facts
from ivr.call_walker import CallWalker
from tests.support.calls import GERMAN_LINE, GERMAN_MOBILE, wait_in_queue

CALL_SID = "CA" + "f" * 32
OTHER_MOBILE = "+4917612345678"


@dataclass
class Statements:
    """The SQL a block ran, on a read snapshot or in a write transaction (SQLite)."""

    ran: list[tuple[bool, str]] = field(default_factory=list)

    @property
    def read(self) -> list[str]:
        return [statement for snapshot, statement in self.ran if snapshot]

    @property
    def written(self) -> list[str]:
        return [statement for snapshot, statement in self.ran if not snapshot]


@contextmanager
def statements_of(deps: Dependencies) -> Iterator[Statements]:
    noted = Statements()

    def note(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        snapshot = bool(connection.get_execution_options().get(SNAPSHOT_OPTION))
        noted.ran.append((snapshot, statement))

    event.listen(deps.engine, "before_cursor_execute", note)
    try:
        yield noted
    finally:
        event.remove(deps.engine, "before_cursor_execute", note)


def reads_email(statement: str) -> bool:
    return "customers.email" in statement and "entitlements" not in statement


def counts(statement: str) -> bool:
    return "count(" in statement.lower()


def assert_settled_from_facts_read_before(statements: Statements) -> None:
    assert any(map(reads_email, statements.read))
    # The SMS queued in the last hour to the caller's mobile, and in all.
    assert len([s for s in statements.read if counts(s)]) == 2
    assert not any(reads_email(s) or counts(s) for s in statements.written)
    assert any(s.startswith("INSERT INTO service_requests") for s in statements.written)


@pytest.fixture
def sqlite_only(is_postgres: bool) -> None:
    if is_postgres:
        pytest.skip("the writer lock is SQLite's; PostgreSQL reads in the write transaction")


def reach_message(walker: CallWalker) -> None:
    walker.dial()
    walker.press("1")
    walker.press("4711002#")  # no e-mail address on file
    wait_in_queue(walker)
    walker.say("Erika Mustermann")


@pytest.mark.usefixtures("sqlite_only", "demo_customers")
def test_a_settling_turn_reads_the_email_on_file_and_counts_sms_before_its_write(phone, deps):
    walker = phone(GERMAN_LINE, GERMAN_MOBILE)
    reach_message(walker)
    walker.press("1")  # called back on the caller ID
    walker.press("#")  # no earlier SR
    walker.press("2")  # no recording
    with statements_of(deps) as statements:
        walker.say("Der NSX-Manager startet nicht mehr.")  # the message is complete: an SR
    assert_settled_from_facts_read_before(statements)
    with transaction(deps.session_factory) as session:
        assert session.scalars(select(Confirmation.address)).all() == [GERMAN_MOBILE]


@pytest.mark.usefixtures("sqlite_only", "demo_customers")
def test_a_status_callback_settling_a_message_reads_its_facts_before_its_write(phone, deps):
    walker = phone(GERMAN_LINE, GERMAN_MOBILE)
    reach_message(walker)
    with statements_of(deps) as statements:
        walker.hang_up()  # mid-message: the status callback settles it
    assert_settled_from_facts_read_before(statements)
    with transaction(deps.session_factory) as session:
        assert session.scalars(select(Confirmation.address)).all() == [GERMAN_MOBILE]


def test_facts_read_for_another_callback_number_are_read_again_in_the_write(deps, catalog):
    now = deps.clock.now()
    context = deps.call_context(now)
    call = new_call(
        CALL_SID,
        catalog.region("de"),
        to_number=GERMAN_LINE,
        from_number=GERMAN_MOBILE,
        started_at=now,
    )
    with transaction(deps.session_factory) as session:
        # Read while the caller had left no number of their own: the caller ID would be texted.
        facts = settling_facts(
            session.connection(),
            call,
            customer_number=None,
            callback_number=None,
            caller_id=GERMAN_MOBILE,
            context=context,
        )
        assert facts.sms_to == GERMAN_MOBILE
        message = Message(
            **new_message_values(
                call,
                kind=MessageKind.NEW.value,
                product_line="datacenter",
                company=None,
                sr_reference=None,
                callback_asked_at=now,
                now=now,
            )
        )
        session.add(message)
        # ...but by the write the caller had typed another mobile.
        record_field(message, now=now, callback_number=OTHER_MOBILE, callback_number_source="typed")
        settled = settle_message(session, call, message, context=context, facts=facts)
        sms = session.scalars(select(Confirmation.address)).all()
    assert settled.sr_number is not None
    assert sms == [OTHER_MOBILE]
