"""Rosters in the database: replaced whole, refused naming every problem, overridden by date,
read back as written; gaps reported once when they open."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from db.transaction import transaction
from db.work import ClaimedWork
from escalations.jobs import ROSTER_GAPS_KIND, check_roster_gaps
from escalations.roster_records import RosterShift
from escalations.roster_watch import note_gaps, roster_covers
from escalations.rosters import (
    OverrideSpec,
    RosterProblem,
    RosterRejected,
    RosterSpec,
    ShiftSpec,
    UnknownRoster,
    add_override,
    all_rosters,
    replace_roster,
    ring_plan_for,
    roster_of,
)
from escalations.routing import OverrideAction, RosterKind, who_to_ring
from intake.models import Role
from intake.staff import add_user, set_active
from tests.support.fakes import FakeClock

WEEKDAYS = (0, 1, 2, 3, 4)
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)
# Wednesday 25 Nov 2026, 10:00 UTC = 11:00 in Berlin (the clock fixture).
DE = RosterSpec(
    region="de",
    kind=RosterKind.DUTY,
    members=("anna", "bernd", "carl"),
    fallback="erika",
    shifts=(
        ShiftSpec(WEEKDAYS, time(7), time(19), ("anna", "bernd")),
        ShiftSpec(EVERY_DAY, time(19), time(7), ("carl",)),
        ShiftSpec((5, 6), time(7), time(0)),
    ),
    overrides=(
        OverrideSpec(
            OverrideAction.REPLACE, "anna", date(2026, 12, 24), date(2026, 12, 26), "dora", "Xmas"
        ),
    ),
)


@pytest.fixture
def people(deps, clock):
    with transaction(deps.session_factory) as session:
        for i, name in enumerate(("anna", "bernd", "carl", "dora", "erika", "fritz")):
            add_user(
                session,
                name=name,
                role=Role.MANAGER,
                now=clock.now(),
                phone=f"+491511000000{i}",
                region="de",
            )
        add_user(session, name="paul", role=Role.MANAGER, now=clock.now())  # no phone


def replace(deps, clock, spec=DE):
    with transaction(deps.session_factory) as session:
        return replace_roster(session, spec, by="test", now=clock.now())


def test_a_roster_reads_back_as_written_and_rings_who_is_on_duty(deps, clock, people):
    stored = replace(deps, clock)

    assert stored.spec == DE
    with transaction(deps.session_factory) as session:
        again = roster_of(session, "de", RosterKind.DUTY)
        shifts = session.scalar(select(func.count()).select_from(RosterShift))
    assert again is not None
    assert again.spec == DE
    assert (again.updated_at, again.updated_by) == (clock.now(), "test")
    assert shifts == 5 + 7 + 2  # one row per weekday
    plan = who_to_ring(again.roster, clock.now(), deps.catalog.region("de").zone)
    assert [p.name for p in plan.people] == ["anna", "bernd", "erika"]
    assert plan.on_duty[0].phone == "+4915110000000"


def test_replacing_a_roster_replaces_members_shifts_and_overrides(deps, clock, people):
    replace(deps, clock)
    smaller = RosterSpec(
        "de", RosterKind.DUTY, ("bernd",), "erika", (ShiftSpec((2,), time(8), time(9)),)
    )

    replace(deps, clock, smaller)

    with transaction(deps.session_factory) as session:
        assert roster_of(session, "de", RosterKind.DUTY).spec == smaller
        assert [r.spec.kind for r in all_rosters(session)] == [RosterKind.DUTY]


def test_a_roster_naming_people_who_cannot_be_rung_is_refused_with_every_problem(
    deps, clock, people
):
    with transaction(deps.session_factory) as session:
        set_active(session, name="carl", active=False)
    bad = RosterSpec(
        region="de",
        kind=RosterKind.DUTY,
        members=("anna", "nobody", "paul", "carl", "anna"),
        fallback="ghost",
        shifts=(ShiftSpec((2,), time(8), time(18), ("fritz",)),),
        overrides=(
            OverrideSpec(OverrideAction.REMOVE, "ghost", date(2026, 12, 1), date(2026, 12, 1)),
            OverrideSpec(OverrideAction.REPLACE, "anna", date(2026, 12, 2), date(2026, 12, 1)),
        ),
    )

    with transaction(deps.session_factory) as session, pytest.raises(RosterRejected) as refused:
        replace_roster(session, bad, by="test", now=clock.now())

    assert refused.value.problems == [
        RosterProblem("members[1]", "nobody", "no staff member has that name"),
        RosterProblem("members[2]", "paul", "has no phone number to ring"),
        RosterProblem("members[3]", "carl", "is disabled"),
        RosterProblem("members[4]", "anna", "is listed twice"),
        RosterProblem("fallback", "ghost", "no staff member has that name"),
        RosterProblem("shifts[0].members[0]", "fritz", "is not a member"),
        RosterProblem("overrides[0].member", "ghost", "no staff member has that name"),
        RosterProblem(
            "overrides[0].member", "ghost", "the fallback cannot be removed, only replaced"
        ),
        RosterProblem("overrides[1].substitute", "", "a replace names who stands in"),
        RosterProblem("overrides[1].last_day", "2026-12-01", "is before first_day"),
    ]
    with transaction(deps.session_factory) as session:
        assert all_rosters(session) == []


def test_an_override_is_added_to_the_roster_and_changes_who_rings(deps, clock, people):
    replace(deps, clock)
    today = date(2026, 11, 25)
    away = OverrideSpec(OverrideAction.REMOVE, "anna", today, today, note="ill")

    with transaction(deps.session_factory) as session:
        stored = add_override(
            session, region="de", kind=RosterKind.DUTY, override=away, by="mia", now=clock.now()
        )

    assert stored.spec.overrides == (*DE.overrides, away)
    assert stored.updated_by == "mia"
    plan = who_to_ring(stored.roster, clock.now(), deps.catalog.region("de").zone)
    assert [p.name for p in plan.people] == ["bernd", "erika"]


def test_an_override_for_a_missing_roster_or_a_stranger_is_refused(deps, clock, people):
    day = date(2026, 11, 25)
    with transaction(deps.session_factory) as session, pytest.raises(UnknownRoster):
        add_override(
            session,
            region="de",
            kind=RosterKind.US_GOVERNMENT,
            override=OverrideSpec(OverrideAction.REMOVE, "anna", day, day),
            by="mia",
            now=clock.now(),
        )
    replace(deps, clock)
    with transaction(deps.session_factory) as session, pytest.raises(RosterRejected) as refused:
        add_override(
            session,
            region="de",
            kind=RosterKind.DUTY,
            override=OverrideSpec(OverrideAction.REPLACE, "fritz", day, day, "anna"),
            by="mia",
            now=clock.now(),
        )
    assert refused.value.problems == [RosterProblem("member", "fritz", "is not on this roster")]


def test_a_member_disabled_later_is_skipped_and_the_chain_goes_on(deps, clock, people):
    replace(deps, clock)
    with transaction(deps.session_factory) as session:
        set_active(session, name="anna", active=False)
        stored = roster_of(session, "de", RosterKind.DUTY)

    assert stored.spec.members == DE.members  # as written
    plan = who_to_ring(stored.roster, clock.now(), deps.catalog.region("de").zone)
    assert [p.name for p in plan.people] == ["bernd", "erika"]


def test_a_region_without_a_roster_or_with_nobody_on_duty_is_a_gap(deps, clock, people):
    weekdays = RosterSpec(
        "de", RosterKind.DUTY, ("anna",), "erika", (ShiftSpec(WEEKDAYS, time(8), time(18)),)
    )
    replace(deps, clock, weekdays)

    with transaction(deps.session_factory) as session:
        now = {
            (c.region, c.kind): c.is_gap
            for c in roster_covers(session, catalog=deps.catalog, now=clock.now())
        }
        saturday = datetime(2026, 11, 28, 12, tzinfo=UTC)
        later = roster_covers(session, catalog=deps.catalog, now=saturday)

    assert now == {("de", RosterKind.DUTY): False, ("us", RosterKind.DUTY): True}
    de = next(c for c in later if c.region == "de")
    assert de.is_gap
    assert de.gap.describe() == "Fri 2026-11-27 18:00 to Mon 2026-11-30 08:00 (Europe/Berlin)"
    assert de.plan.fallback.name == "erika"


def check(deps, clock, caplog):
    caplog.clear()
    item = ClaimedWork(1, ROSTER_GAPS_KIND, "k", {}, 1, 1, clock.now(), "test-worker")
    with caplog.at_level(logging.INFO, logger="hotline.worker"):
        check_roster_gaps(
            item, session_factory=deps.session_factory, clock=clock, catalog=deps.catalog
        )
    return [(r.levelname, r.getMessage()) for r in caplog.records if "roster_gap" in r.getMessage()]


def test_a_gap_is_warned_of_once_when_it_opens_and_noted_when_it_closes(
    deps, clock: FakeClock, people, caplog
):
    weekdays = RosterSpec(
        "de", RosterKind.DUTY, ("anna",), "erika", (ShiftSpec(WEEKDAYS, time(8), time(18)),)
    )
    replace(deps, clock, weekdays)
    us = RosterSpec(
        "us", RosterKind.DUTY, ("bernd",), "erika", (ShiftSpec(EVERY_DAY, time(0), time(0)),)
    )
    replace(deps, clock, us)

    assert check(deps, clock, caplog) == []  # Wednesday 11:00 in Berlin
    clock.set(datetime(2026, 11, 25, 17, 0, tzinfo=UTC))  # 18:00: the gap opens
    assert check(deps, clock, caplog) == [
        (
            "WARNING",
            'event=roster_gap region=de kind=duty gap="Wed 2026-11-25 18:00 to Thu 2026-11-26'
            ' 08:00 (Europe/Berlin)" fallback=erika',
        )
    ]
    for _ in range(3):
        clock.advance(minutes=1)
        assert check(deps, clock, caplog) == []
    clock.set(datetime(2026, 11, 26, 7, 0, tzinfo=UTC))  # Thursday 08:00
    assert check(deps, clock, caplog) == [("INFO", "event=roster_gap_closed region=de kind=duty")]
    clock.set(datetime(2026, 11, 26, 17, 30, tzinfo=UTC))  # the next evening: a new gap
    assert [level for level, _ in check(deps, clock, caplog)] == ["WARNING"]


def test_a_region_without_a_roster_is_warned_of_once(deps, clock: FakeClock, caplog):
    first = check(deps, clock, caplog)
    clock.advance(hours=1)

    assert first == [
        ("WARNING", "event=roster_gap region=de kind=duty gap=no_roster fallback=none"),
        ("WARNING", "event=roster_gap region=us kind=duty gap=no_roster fallback=none"),
    ]
    assert check(deps, clock, caplog) == []


def test_a_gap_longer_than_the_look_around_is_still_one_gap(deps, clock: FakeClock, people, caplog):
    nothing = RosterSpec("de", RosterKind.DUTY, ("anna",), "erika", ())
    replace(deps, clock, nothing)

    assert len(check(deps, clock, caplog)) == 2  # de (no shifts) and us (no roster)
    for _ in range(3):
        clock.advance(days=5)
        assert check(deps, clock, caplog) == []


def test_the_gap_state_is_kept_per_roster(deps, clock, people):
    with transaction(deps.session_factory) as session:
        opened = note_gaps(session, catalog=deps.catalog, now=clock.now()).opened
        again = note_gaps(session, catalog=deps.catalog, now=clock.now() + timedelta(minutes=1))
    assert [(c.region, c.kind) for c in opened] == [
        ("de", RosterKind.DUTY),
        ("us", RosterKind.DUTY),
    ]
    assert again.opened == again.closed == []


def test_an_escalation_on_a_us_government_line_rings_the_us_government_roster(deps, clock, people):
    replace(deps, clock)
    government = RosterSpec(
        "us",
        RosterKind.US_GOVERNMENT,
        ("fritz",),
        "dora",
        (ShiftSpec(EVERY_DAY, time(9), time(17)),),
    )
    replace(deps, clock, government)

    def plan(region, us_government):
        with transaction(deps.session_factory) as session:
            found = ring_plan_for(
                session,
                region=region,
                is_us_government=us_government,
                catalog=deps.catalog,
                now=clock.now(),
            )
        return None if found is None else [p.name for p in found.people]

    # Wednesday 10:00 UTC: 11:00 in Berlin, 05:00 in New York (the government roster's zone).
    assert plan("de", False) == ["anna", "bernd", "erika"]
    assert plan("de", True) == ["dora"]
    assert plan("us", True) == ["dora"]
    assert plan("us", False) is None  # no US duty roster: never the government one
    clock.advance(hours=5)  # 10:00 in New York
    assert plan("de", True) == ["fritz", "dora"]
