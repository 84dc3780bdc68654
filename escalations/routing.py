"""Who is on duty: a roster's weekly shifts and overrides read at an instant, and its gaps.

Pure: no database, no clock. A roster is a region's ordered members, weekly shifts in the
region's local time, overrides for local date ranges (holidays, absences) and a final fallback,
the regional escalation manager (the seed: "der Eskalationsmanager Ihrer Region").

Local times are resolved to instants day by day with ``zoneinfo``, so a shift lasts as long as
the wall clock says: 22:00-06:00 is 7 hours on the night the clocks go forward and 9 on the
night they go back. A wall time the clocks skip or repeat resolves as PEP 495's ``fold=0`` does
(the offset before the change), for a shift's end exactly as for the next shift's start, so
back-to-back shifts never leave a gap or overlap at a change.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MIDNIGHT = time(0, 0)


class RosterKind(enum.StrEnum):
    """Which escalations a roster takes."""

    DUTY = "duty"  # the region's duty managers
    # Escalations on the US government lines (+1-877-869-2730, +1-650-846-2060): their own staff.
    US_GOVERNMENT = "us_government"


class OverrideAction(enum.StrEnum):
    """What an override does to a person for its local dates."""

    REPLACE = "replace"  # ``substitute`` takes the person's place, wherever they are on duty
    ADD = "add"  # the person is on duty all day, after whoever the shifts name
    REMOVE = "remove"  # the person is not rung (holiday, absence)


@dataclass(frozen=True)
class Person:
    """Someone who can be rung: a staff member with a phone."""

    name: str
    phone: str
    user_id: int | None = None


@dataclass(frozen=True)
class Shift:
    """A weekly shift starting on ``weekday`` (0 = Monday) at local ``starts``.

    It ends at local ``ends`` the same day, or the next day when ``ends`` is not after
    ``starts`` (22:00-06:00; "24:00" is 00:00 of the next day; equal times are 24 hours).
    ``members`` names who rings, in order; empty means every roster member in roster order.
    """

    weekday: int
    starts: time
    ends: time
    members: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {self.weekday}")

    @property
    def ends_next_day(self) -> bool:
        """Whether the shift ends on the day after it starts."""
        return self.ends <= self.starts

    def hours_text(self) -> str:
        """``22:00-06:00``; an end at midnight reads ``24:00``."""
        ends = "24:00" if self.ends == MIDNIGHT else f"{self.ends:%H:%M}"
        return f"{self.starts:%H:%M}-{ends}"


@dataclass(frozen=True)
class Override:
    """A change to who rings, from local 00:00 of ``first_day`` to 24:00 of ``last_day``."""

    action: OverrideAction
    person: Person
    first_day: date
    last_day: date
    substitute: Person | None = None  # who replaces ``person`` (REPLACE only)
    note: str | None = None

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise ValueError(f"override ends ({self.last_day}) before it starts ({self.first_day})")
        if (self.action is OverrideAction.REPLACE) != (self.substitute is not None):
            raise ValueError("a replace override names a substitute, and only a replace does")

    def window(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The override's UTC bounds: its first day's local midnight to the one after its last."""
        return _instant(self.first_day, MIDNIGHT, zone), _instant(
            self.last_day + timedelta(days=1), MIDNIGHT, zone
        )


@dataclass(frozen=True)
class Roster:
    """One region's roster of one kind."""

    region: str
    kind: RosterKind
    members: tuple[Person, ...]
    shifts: tuple[Shift, ...]
    fallback: Person | None
    overrides: tuple[Override, ...] = ()

    def member(self, name: str) -> Person | None:
        """The member called ``name``."""
        return next((p for p in self.members if p.name == name), None)


@dataclass(frozen=True)
class RingPlan:
    """Who to ring, in order: the people on duty, then the fallback."""

    region: str
    kind: RosterKind
    on_duty: tuple[Person, ...]
    fallback: Person | None

    @property
    def people(self) -> tuple[Person, ...]:
        """Everyone to ring in order, the fallback last and only once."""
        if self.fallback is None or self.fallback in self.on_duty:
            return self.on_duty
        return (*self.on_duty, self.fallback)

    @property
    def is_gap(self) -> bool:
        """Whether no shift covers the moment: only the fallback would be rung."""
        return not self.on_duty


@dataclass(frozen=True)
class Gap:
    """A stretch no shift covers, as UTC instants, read in the roster's ``zone``."""

    starts_at: datetime
    ends_at: datetime
    zone: str

    @property
    def local_start(self) -> datetime:
        """The gap's start on the region's wall clock."""
        return self.starts_at.astimezone(ZoneInfo(self.zone))

    @property
    def local_end(self) -> datetime:
        """The gap's end on the region's wall clock."""
        return self.ends_at.astimezone(ZoneInfo(self.zone))

    def describe(self) -> str:
        """``Sat 2026-03-28 22:00 to Sun 2026-03-29 06:00 (Europe/Berlin)``."""
        start, end = self.local_start, self.local_end
        return f"{start:%a %Y-%m-%d %H:%M} to {end:%a %Y-%m-%d %H:%M} ({self.zone})"


def who_to_ring(roster: Roster, at: datetime, zone: ZoneInfo) -> RingPlan:
    """The people on duty at the instant ``at`` in shift order, overrides applied, then the
    fallback (replaced by their substitute while a replace override for them runs)."""
    at_utc = _utc(at, "at")
    fallback = roster.fallback
    if fallback is not None:
        for override in _active_overrides(roster, at_utc, zone):
            if override.action is OverrideAction.REPLACE and override.person == fallback:
                fallback = override.substitute
    return RingPlan(
        region=roster.region,
        kind=roster.kind,
        on_duty=_on_duty(roster, at_utc, zone),
        fallback=fallback,
    )


def gaps(roster: Roster, start: datetime, end: datetime, zone: ZoneInfo) -> list[Gap]:
    """The stretches between ``start`` and ``end`` when nobody is on duty (the fallback aside),
    as maximal intervals in time order."""
    start_utc, end_utc = _utc(start, "start"), _utc(end, "end")
    if end_utc <= start_utc:
        return []
    # Who is on duty changes only at a shift's or an override's bounds: judging each stretch
    # between two bounds at its start judges all of it, by the very rule ``who_to_ring`` uses.
    bounds = {start_utc, end_utc}
    first_day = start_utc.astimezone(zone).date() - timedelta(days=1)
    last_day = end_utc.astimezone(zone).date()
    for opens_at, closes_at, _ in _occurrences(roster.shifts, first_day, last_day, zone):
        bounds.update((opens_at, closes_at))
    for override in roster.overrides:
        bounds.update(override.window(zone))
    found: list[Gap] = []
    inside = sorted(b for b in bounds if start_utc <= b <= end_utc)
    for begin, finish in pairwise(inside):
        if _on_duty(roster, begin, zone):
            continue
        if found and found[-1].ends_at == begin:
            found[-1] = Gap(found[-1].starts_at, finish, zone.key)
        else:
            found.append(Gap(begin, finish, zone.key))
    return found


def gap_at(
    roster: Roster, at: datetime, zone: ZoneInfo, *, look: timedelta = timedelta(days=8)
) -> Gap | None:
    """The gap ``at`` falls in, or None when someone is on duty. Its bounds are looked for up
    to ``look`` either side: a gap starting exactly ``look`` before ``at`` began earlier."""
    at_utc = _utc(at, "at")
    for gap in gaps(roster, at_utc - look, at_utc + look, zone):
        if gap.starts_at <= at_utc < gap.ends_at:
            return gap
    return None


def choose_roster(
    rosters: Iterable[Roster], *, region: str, is_us_government: bool
) -> Roster | None:
    """The roster an escalation rings: the region's duty roster; for an escalation on a US
    government line the US government roster (the region's own, else the one there is), never
    a duty roster, whose staff may not take those calls."""
    candidates = list(rosters)
    if is_us_government:
        government = [r for r in candidates if r.kind is RosterKind.US_GOVERNMENT]
        own = [r for r in government if r.region == region]
        if own:
            return own[0]
        return government[0] if len(government) == 1 else None
    return next(
        (r for r in candidates if r.kind is RosterKind.DUTY and r.region == region),
        None,
    )


def _on_duty(roster: Roster, at_utc: datetime, zone: ZoneInfo) -> tuple[Person, ...]:
    local_day = at_utc.astimezone(zone).date()
    people: list[Person] = []
    # Yesterday's shifts too: one that started then may run past midnight into today.
    for opens_at, closes_at, shift in _occurrences(
        roster.shifts, local_day - timedelta(days=1), local_day, zone
    ):
        if opens_at <= at_utc < closes_at:
            for person in _shift_people(roster, shift):
                if person not in people:
                    people.append(person)
    for override in _active_overrides(roster, at_utc, zone):
        if override.action is OverrideAction.REMOVE:
            people = [p for p in people if p != override.person]
        elif override.action is OverrideAction.REPLACE:
            assert override.substitute is not None
            substitute = override.substitute
            people = [
                substitute if p == override.person else p
                for p in people
                if not (p == substitute and override.person in people)
            ]
        elif override.person not in people:
            people.append(override.person)
    return tuple(people)


def _shift_people(roster: Roster, shift: Shift) -> Iterator[Person]:
    if not shift.members:
        yield from roster.members
        return
    for name in shift.members:
        person = roster.member(name)
        if person is not None:  # a member who can no longer be rung (no phone, disabled)
            yield person


def _active_overrides(roster: Roster, at_utc: datetime, zone: ZoneInfo) -> Iterator[Override]:
    for override in roster.overrides:
        opens_at, closes_at = override.window(zone)
        if opens_at <= at_utc < closes_at:
            yield override


def _occurrences(
    shifts: tuple[Shift, ...], first_day: date, last_day: date, zone: ZoneInfo
) -> list[tuple[datetime, datetime, Shift]]:
    """Every shift starting on a local day from ``first_day`` to ``last_day``, as UTC bounds,
    earliest first (ties in roster order); a shift the clocks squeeze to nothing is dropped."""
    found: list[tuple[datetime, int, datetime, Shift]] = []
    day = first_day
    while day <= last_day:
        for index, shift in enumerate(shifts):
            if shift.weekday != day.weekday():
                continue
            end_day = day + timedelta(days=1) if shift.ends_next_day else day
            opens_at = _instant(day, shift.starts, zone)
            closes_at = _instant(end_day, shift.ends, zone)
            if opens_at < closes_at:
                found.append((opens_at, index, closes_at, shift))
        day += timedelta(days=1)
    found.sort(key=lambda item: (item[0], item[1]))
    return [(opens_at, closes_at, shift) for opens_at, _, closes_at, shift in found]


def _instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)
