"""The escalation-ring benchmark's database: customers with open SRs, and duty managers on call.

``fill_customers`` imports the demo customers (``config/demo/customers.csv``, as ``hotline
customers import`` does) and adds a history of earlier calls (``bench._history_fill``) whose
message calls left open SRs of region de; each SR is one customer's to escalate, calling from
the number the SR holds. ``add_duty_roster`` adds the region's managers, each with a phone and an
e-mail address (as ``hotline user add`` does), and makes them its duty roster, on duty all week
round the clock, with one more manager as the fallback (as ``hotline roster import`` does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time

from sqlalchemy import Engine, select

from bench._call_history import MESSAGE_CALLS_IN_FIVE, REGION
from bench._history_fill import fill_history
from config.settings import DEFAULT_CONFIG
from db.transaction import make_session_factory, transaction
from escalations.rosters import RosterSpec, ShiftSpec, replace_roster
from escalations.routing import RosterKind
from intake.catalog import Catalog
from intake.customers import import_customers_csv
from intake.models import Role, ServiceRequest
from intake.staff import StaffMember, add_user

DEMO_CUSTOMERS = DEFAULT_CONFIG.parent / "demo" / "customers.csv"
MANAGER_PHONE_BASE = 4915122230000
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)


@dataclass(frozen=True)
class Customer:
    """A customer who will escalate their SR, calling from ``caller``."""

    sr_number: str
    caller: str


def fill_customers(engine: Engine, catalog: Catalog, count: int) -> list[Customer]:
    """The demo customers and at least ``count`` open SRs of region de, each its own caller's;
    ``count`` of them, oldest first."""
    now = datetime.now(UTC)
    with transaction(make_session_factory(engine)) as session:
        import_customers_csv(
            session, DEMO_CUSTOMERS.read_text(encoding="utf-8-sig"), catalog=catalog, now=now
        )
    # Three calls in five leave an SR; a few more than needed, the rest are agent calls.
    calls = math.ceil(count * 5 / MESSAGE_CALLS_IN_FIVE) + 5
    fill_history(engine, catalog, calls=calls, until=now, days=1, workers=1)
    with engine.connect() as connection:
        rows = connection.execute(
            select(ServiceRequest.number, ServiceRequest.callback_number)
            .where(ServiceRequest.region == REGION, ServiceRequest.callback_number.is_not(None))
            .order_by(ServiceRequest.id)
            .limit(count)
        ).all()
    if len(rows) < count:
        raise RuntimeError(f"the history left {len(rows)} SRs, {count} needed")
    return [Customer(number, caller) for number, caller in rows if number and caller]


def add_duty_roster(engine: Engine, members: int, *, region: str = REGION) -> list[StaffMember]:
    """``members`` managers of ``region`` on duty all week, in this order, and a fallback
    manager after them; all of them, the fallback last."""
    now = datetime.now(UTC)
    with transaction(make_session_factory(engine)) as session:
        people = [
            add_user(
                session,
                name=f"manager.{number:02d}",
                role=Role.MANAGER,
                now=now,
                phone=f"+{MANAGER_PHONE_BASE + number}",
                email=f"manager.{number:02d}@example.com",
                region=region,
            )[0]
            for number in range(1, members + 2)
        ]
        replace_roster(
            session,
            RosterSpec(
                region=region,
                kind=RosterKind.DUTY,
                members=tuple(p.name for p in people[:-1]),
                fallback=people[-1].name,
                shifts=(ShiftSpec(EVERY_DAY, time(0), time(0)),),
            ),
            by="bench",
            now=now,
        )
    return people
