"""Duty-manager rosters as tables: a roster per region and kind, its members in ring order, its
weekly shifts in the region's local time, its overrides by local date, and the gap last warned of.

Local times are kept as the roster's words ("22:00", "24:00"): they are read in the region's
time zone (``intake.catalog.Region.zone``) when someone must be rung, never turned into
instants ahead of time, which a DST change would then make wrong.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UtcDateTime
from db.work import Id


class RosterRecord(Base):
    """One region's roster of one kind (``escalations.routing.RosterKind``)."""

    __tablename__ = "escalation_rosters"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    region: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))
    # The regional escalation manager: rung last, whoever else is on duty.
    fallback_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("region", "kind"),)


class RosterMember(Base):
    """A member of a roster; ``position`` is the ring order when a shift names nobody."""

    __tablename__ = "escalation_roster_members"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    roster_id: Mapped[int] = mapped_column(
        ForeignKey("escalation_rosters.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (UniqueConstraint("roster_id", "user_id"),)


class RosterShift(Base):
    """A weekly shift: from ``starts`` on ``weekday`` (0 = Monday) to ``ends``, local time; an
    end not after the start falls on the next day ("22:00"-"06:00", "08:00"-"24:00")."""

    __tablename__ = "escalation_roster_shifts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    roster_id: Mapped[int] = mapped_column(
        ForeignKey("escalation_rosters.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    weekday: Mapped[int] = mapped_column(Integer)
    starts: Mapped[str] = mapped_column(String(5))
    ends: Mapped[str] = mapped_column(String(5))
    # Who rings, in order, as user ids of the roster's members; empty: every member in order.
    member_ids: Mapped[list[int]] = mapped_column(JSON, default=list)


class RosterOverride(Base):
    """A change for local dates ``first_day`` to ``last_day``: ``user_id`` replaced by
    ``substitute_user_id``, added, or removed (``escalations.routing.OverrideAction``)."""

    __tablename__ = "escalation_roster_overrides"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    roster_id: Mapped[int] = mapped_column(
        ForeignKey("escalation_rosters.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    substitute_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class RosterGapWarning(Base):
    """The gap a region's roster of a kind was last warned of, so the log says it once."""

    __tablename__ = "escalation_roster_gaps"

    region: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    # When the open gap began (or was first seen, for a missing roster); None: no gap open.
    gap_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    warned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
