"""Callbacks in the queue and the staff who work them, made the way the product makes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callbacks.models import Callback
from db.transaction import SessionFactory, transaction
from intake.catalog import Catalog
from intake.models import Role
from intake.staff import StaffMember, add_user
from tests.support.fakes import FakeClock
from tests.support.intake_rows import GERMAN_MOBILE, submit_request

AGENT_PHONE = "+4915199990001"


def queued_callback(
    session: Session,
    *,
    catalog: Catalog,
    now: datetime,
    region: str = "de",
    callback_number: str = GERMAN_MOBILE,
    description: str = "Server startet nicht",
) -> int:
    """A caller's message turned into an SR with its callback queued; the callback's id."""
    sr_number = submit_request(
        session,
        catalog=catalog,
        now=now,
        region=region,
        callback_number=callback_number,
        description=description,
    )
    session.flush()
    callback_id = session.scalar(select(Callback.id).where(Callback.sr_number == sr_number))
    assert callback_id is not None
    return callback_id


def queued_callbacks(
    factory: SessionFactory, catalog: Catalog, clock: FakeClock, count: int = 1
) -> list[int]:
    """``count`` callbacks queued 30 s apart (the clock moves on), in queue order; their ids."""
    ids = []
    with transaction(factory) as session:
        for _ in range(count):
            ids.append(queued_callback(session, catalog=catalog, now=clock.now()))
            clock.advance(seconds=30)
    return ids


def staff(
    session: Session,
    name: str,
    *,
    now: datetime,
    role: Role = Role.AGENT,
    region: str = "de",
    phone: str | None = AGENT_PHONE,
    email: str | None = None,
) -> tuple[StaffMember, str]:
    """A staff member of ``region`` and their API token."""
    return add_user(session, name=name, role=role, now=now, phone=phone, email=email, region=region)
