"""Rosters kept in the database: replaced whole, read as routing values, overridden by date.

A roster names people by their user name; each must be an active staff member with a phone,
for a roster exists to ring them. A refusal lists every problem with the field it is in
(``members[1]``, ``shifts[0].members[2]``, ``overrides[0].substitute``) and the value found
there, so an edge can point at the line of a file or the member of a request body.

Services run in the caller's transaction and never commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from escalations.roster_records import RosterMember, RosterOverride, RosterRecord, RosterShift
from escalations.routing import (
    MIDNIGHT,
    Override,
    OverrideAction,
    Person,
    RingPlan,
    Roster,
    RosterKind,
    Shift,
    choose_roster,
    who_to_ring,
)
from intake.catalog import Catalog
from intake.models import User


@dataclass(frozen=True)
class ShiftSpec:
    """Weekly shifts as written: the same local hours on each of ``days`` (0 = Monday)."""

    days: tuple[int, ...]
    starts: time
    ends: time  # 00:00 is "24:00" when written as an end
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class OverrideSpec:
    """An override as written: names, local dates from ``first_day`` to ``last_day``."""

    action: OverrideAction
    member: str
    first_day: date
    last_day: date
    substitute: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class RosterSpec:
    """A whole roster as written in a file or a request body."""

    region: str
    kind: RosterKind
    members: tuple[str, ...]
    fallback: str
    shifts: tuple[ShiftSpec, ...] = ()
    overrides: tuple[OverrideSpec, ...] = ()


@dataclass(frozen=True)
class StoredRoster:
    """A roster as stored: what was written (``spec``), who last changed it, and the people
    it can ring (``roster``: members disabled or without a phone since are left out)."""

    spec: RosterSpec
    roster: Roster
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class RosterProblem:
    """One reason a roster was refused: where, what was there, and what is wrong."""

    field: str
    value: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.value!r}: {self.message}"


class RosterRejected(Exception):
    """The roster names people who cannot be rung, or contradicts itself; nothing was stored."""

    def __init__(self, problems: list[RosterProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


class UnknownRoster(Exception):
    """The region has no roster of that kind."""


def replace_roster(session: Session, spec: RosterSpec, *, by: str, now: datetime) -> StoredRoster:
    """Make ``spec`` the region's roster of its kind, members, shifts and overrides all replaced;
    raises ``RosterRejected`` naming every problem, having changed nothing."""
    users = _users(session, _names_in(spec))
    problems = _check(spec, users)
    if problems:
        raise RosterRejected(problems)
    record = session.scalar(
        select(RosterRecord)
        .where(RosterRecord.region == spec.region, RosterRecord.kind == spec.kind.value)
        .with_for_update()
    )
    if record is None:
        record = RosterRecord(region=spec.region, kind=spec.kind.value)
        session.add(record)
    else:
        for table in (RosterMember, RosterShift, RosterOverride):
            session.execute(delete(table).where(table.roster_id == record.id))
    record.fallback_user_id = users[spec.fallback].id
    record.updated_at = now
    record.updated_by = by
    session.flush()
    for position, name in enumerate(spec.members):
        session.add(RosterMember(roster_id=record.id, position=position, user_id=users[name].id))
    position = 0
    for shift in spec.shifts:
        for day in shift.days:
            session.add(
                RosterShift(
                    roster_id=record.id,
                    position=position,
                    weekday=day,
                    starts=f"{shift.starts:%H:%M}",
                    ends=_end_text(shift.ends),
                    member_ids=[users[name].id for name in shift.members],
                )
            )
            position += 1
    for override in spec.overrides:
        _add_override_row(session, record, override, users, by=by, now=now)
    session.flush()
    return _stored(session, record)


def add_override(
    session: Session,
    *,
    region: str,
    kind: RosterKind,
    override: OverrideSpec,
    by: str,
    now: datetime,
) -> StoredRoster:
    """Add ``override`` to the region's roster (kept with the others, in order); raises
    ``UnknownRoster`` or ``RosterRejected``."""
    record = session.scalar(
        select(RosterRecord)
        .where(RosterRecord.region == region, RosterRecord.kind == kind.value)
        .with_for_update()
    )
    if record is None:
        raise UnknownRoster(f"region {region!r} has no {kind.value} roster")
    spec = _stored(session, record).spec
    names = {override.member} | ({override.substitute} if override.substitute else set())
    users = _users(session, names)
    problems = _check_override(spec, override, users, field="")
    if problems:
        raise RosterRejected(problems)
    _add_override_row(session, record, override, users, by=by, now=now)
    record.updated_at = now
    record.updated_by = by
    session.flush()
    return _stored(session, record)


def roster_of(session: Session, region: str, kind: RosterKind) -> StoredRoster | None:
    """The region's roster of ``kind``, or None when it has none."""
    record = session.scalar(
        select(RosterRecord).where(RosterRecord.region == region, RosterRecord.kind == kind.value)
    )
    return None if record is None else _stored(session, record)


def all_rosters(session: Session, region: str | None = None) -> list[StoredRoster]:
    """Every roster (or ``region``'s), by region then kind."""
    query = select(RosterRecord).order_by(RosterRecord.region, RosterRecord.kind)
    if region is not None:
        query = query.where(RosterRecord.region == region)
    return [_stored(session, record) for record in session.scalars(query)]


def ring_plan_for(
    session: Session, *, region: str, is_us_government: bool, catalog: Catalog, now: datetime
) -> RingPlan | None:
    """Who an escalation of an SR of ``region`` rings at ``now``, read in the chosen roster's
    own region's time zone; None when no roster applies (``routing.choose_roster``)."""
    roster = choose_roster(
        (stored.roster for stored in all_rosters(session)),
        region=region,
        is_us_government=is_us_government,
    )
    if roster is None:
        return None
    return who_to_ring(roster, now, catalog.region(roster.region).zone)


def roster_people_for(
    session: Session, *, region: str, is_us_government: bool
) -> tuple[Person, ...]:
    """Everyone on the roster an escalation of ``region`` rings (members in order, then the
    fallback), whoever is on duty: those told when nobody accepted it."""
    roster = choose_roster(
        (stored.roster for stored in all_rosters(session)),
        region=region,
        is_us_government=is_us_government,
    )
    if roster is None:
        return ()
    if roster.fallback is None or roster.fallback in roster.members:
        return roster.members
    return (*roster.members, roster.fallback)


# -- checking a roster ------------------------------------------------------------------------


def _names_in(spec: RosterSpec) -> set[str]:
    names = {*spec.members, spec.fallback}
    for shift in spec.shifts:
        names.update(shift.members)
    for override in spec.overrides:
        names.add(override.member)
        if override.substitute is not None:
            names.add(override.substitute)
    return names


def _users(session: Session, names: Iterable[str]) -> dict[str, User]:
    wanted = sorted(set(names))
    if not wanted:
        return {}
    return {u.name: u for u in session.scalars(select(User).where(User.name.in_(wanted)))}


def _person_problem(field: str, name: str, users: dict[str, User]) -> RosterProblem | None:
    user = users.get(name)
    if user is None:
        return RosterProblem(field, name, "no staff member has that name")
    if not user.is_active:
        return RosterProblem(field, name, "is disabled")
    if not user.phone:
        return RosterProblem(field, name, "has no phone number to ring")
    return None


def _check(spec: RosterSpec, users: dict[str, User]) -> list[RosterProblem]:
    problems: list[RosterProblem] = []

    def person(field: str, name: str) -> None:
        problem = _person_problem(field, name, users)
        if problem is not None:
            problems.append(problem)

    if not spec.members:
        problems.append(RosterProblem("members", "", "name at least one member"))
    seen: set[str] = set()
    for i, name in enumerate(spec.members):
        if name in seen:
            problems.append(RosterProblem(f"members[{i}]", name, "is listed twice"))
        seen.add(name)
        person(f"members[{i}]", name)
    person("fallback", spec.fallback)
    for s, shift in enumerate(spec.shifts):
        if not shift.days:
            problems.append(RosterProblem(f"shifts[{s}].days", "", "name at least one day"))
        for d, day in enumerate(shift.days):
            if not 0 <= day <= 6:
                problems.append(RosterProblem(f"shifts[{s}].days[{d}]", str(day), "no weekday"))
        for m, name in enumerate(shift.members):
            if name not in spec.members:
                problems.append(RosterProblem(f"shifts[{s}].members[{m}]", name, "is not a member"))
    for o, override in enumerate(spec.overrides):
        problems.extend(_check_override(spec, override, users, field=f"overrides[{o}]."))
    return problems


def _check_override(
    spec: RosterSpec, override: OverrideSpec, users: dict[str, User], *, field: str
) -> list[RosterProblem]:
    problems: list[RosterProblem] = []
    member = override.member
    problem = _person_problem(f"{field}member", member, users)
    if problem is not None:
        problems.append(problem)
    if override.action is OverrideAction.REMOVE and member == spec.fallback:
        # The chain must end with someone; the fallback's deputy is a replace override.
        problems.append(
            RosterProblem(f"{field}member", member, "the fallback cannot be removed, only replaced")
        )
    elif (
        problem is None
        and override.action is not OverrideAction.ADD
        and member not in (*spec.members, spec.fallback)
    ):
        problems.append(RosterProblem(f"{field}member", member, "is not on this roster"))
    if override.action is OverrideAction.REPLACE:
        if override.substitute is None:
            problems.append(
                RosterProblem(f"{field}substitute", "", "a replace names who stands in")
            )
        else:
            problem = _person_problem(f"{field}substitute", override.substitute, users)
            if problem is not None:
                problems.append(problem)
            elif override.substitute == member:
                problems.append(
                    RosterProblem(f"{field}substitute", member, "cannot stand in for themselves")
                )
    elif override.substitute is not None:
        problems.append(
            RosterProblem(
                f"{field}substitute", override.substitute, "only a replace names a substitute"
            )
        )
    if override.last_day < override.first_day:
        problems.append(
            RosterProblem(f"{field}last_day", override.last_day.isoformat(), "is before first_day")
        )
    return problems


def _add_override_row(
    session: Session,
    record: RosterRecord,
    override: OverrideSpec,
    users: dict[str, User],
    *,
    by: str,
    now: datetime,
) -> None:
    session.add(
        RosterOverride(
            roster_id=record.id,
            action=override.action.value,
            user_id=users[override.member].id,
            substitute_user_id=(
                None if override.substitute is None else users[override.substitute].id
            ),
            first_day=override.first_day,
            last_day=override.last_day,
            note=override.note,
            created_at=now,
            created_by=by,
        )
    )


# -- reading a roster -------------------------------------------------------------------------


def _stored(session: Session, record: RosterRecord) -> StoredRoster:
    members = list(
        session.scalars(
            select(RosterMember)
            .where(RosterMember.roster_id == record.id)
            .order_by(RosterMember.position)
        )
    )
    shifts = list(
        session.scalars(
            select(RosterShift)
            .where(RosterShift.roster_id == record.id)
            .order_by(RosterShift.position)
        )
    )
    overrides = list(
        session.scalars(
            select(RosterOverride)
            .where(RosterOverride.roster_id == record.id)
            .order_by(RosterOverride.id)
        )
    )
    ids = {record.fallback_user_id, *(m.user_id for m in members)}
    for shift in shifts:
        ids.update(shift.member_ids)
    for override in overrides:
        ids.add(override.user_id)
        if override.substitute_user_id is not None:
            ids.add(override.substitute_user_id)
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}

    def name(user_id: int) -> str:
        return users[user_id].name

    kind = RosterKind(record.kind)
    spec = RosterSpec(
        region=record.region,
        kind=kind,
        members=tuple(name(m.user_id) for m in members),
        fallback=name(record.fallback_user_id),
        shifts=_grouped(shifts, name),
        overrides=tuple(
            OverrideSpec(
                action=OverrideAction(o.action),
                member=name(o.user_id),
                first_day=o.first_day,
                last_day=o.last_day,
                substitute=None if o.substitute_user_id is None else name(o.substitute_user_id),
                note=o.note,
            )
            for o in overrides
        ),
    )
    return StoredRoster(
        spec=spec,
        roster=_routing_roster(spec, {u.name: u for u in users.values()}),
        updated_at=record.updated_at,
        updated_by=record.updated_by,
    )


def _grouped(rows: list[RosterShift], name: Callable[[int], str]) -> tuple[ShiftSpec, ...]:
    """Consecutive stored shifts with the same hours and people, as one written shift."""
    specs: list[ShiftSpec] = []
    for row in rows:
        starts, ends = _parse_time(row.starts), _parse_time(row.ends)
        members = tuple(name(i) for i in row.member_ids)
        last = specs[-1] if specs else None
        if last is not None and (last.starts, last.ends, last.members) == (starts, ends, members):
            specs[-1] = ShiftSpec((*last.days, row.weekday), starts, ends, members)
        else:
            specs.append(ShiftSpec((row.weekday,), starts, ends, members))
    return tuple(specs)


def _routing_roster(spec: RosterSpec, users: dict[str, User]) -> Roster:
    """The roster as routing reads it: only people who can be rung now are in it."""

    def person(name: str) -> Person | None:
        user = users.get(name)
        if user is None or not user.is_active or not user.phone:
            return None
        return Person(name=user.name, phone=user.phone, user_id=user.id)

    overrides = []
    for o in spec.overrides:
        member = person(o.member)
        substitute = None if o.substitute is None else person(o.substitute)
        if member is None or (o.action is OverrideAction.REPLACE and substitute is None):
            continue
        overrides.append(Override(o.action, member, o.first_day, o.last_day, substitute, o.note))
    return Roster(
        region=spec.region,
        kind=spec.kind,
        members=tuple(p for p in map(person, spec.members) if p is not None),
        shifts=tuple(
            Shift(day, shift.starts, shift.ends, shift.members)
            for shift in spec.shifts
            for day in shift.days
        ),
        fallback=person(spec.fallback),
        overrides=tuple(overrides),
    )


def _parse_time(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    return MIDNIGHT if hours == 24 else time(hours, minutes)


def _end_text(ends: time) -> str:
    return "24:00" if ends == MIDNIGHT else f"{ends:%H:%M}"
