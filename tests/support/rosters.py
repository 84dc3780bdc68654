"""Rosters for tests that need every region covered: one manager on duty around the clock."""

from __future__ import annotations

from datetime import datetime, time

from db.transaction import SessionFactory, transaction
from escalations.rosters import RosterSpec, ShiftSpec, replace_roster
from escalations.routing import RosterKind
from intake.catalog import Catalog
from intake.models import Role
from intake.staff import add_user

EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)


def cover_every_region(session_factory: SessionFactory, catalog: Catalog, *, now: datetime) -> None:
    """A duty roster for each region with one manager on duty all week: no roster gaps."""
    with transaction(session_factory) as session:
        for i, region in enumerate(catalog.regions):
            name = f"duty-{region.key}"
            add_user(session, name=name, role=Role.MANAGER, now=now, phone=f"+4915120000{i:03d}")
            replace_roster(
                session,
                RosterSpec(
                    region=region.key,
                    kind=RosterKind.DUTY,
                    members=(name,),
                    fallback=name,
                    shifts=(ShiftSpec(EVERY_DAY, time(0), time(0)),),
                ),
                by="test",
                now=now,
            )
