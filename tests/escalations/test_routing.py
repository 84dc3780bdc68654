"""Who to ring: shifts in local time across both DST changes, overrides, fallback, gaps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from escalations.routing import (
    Gap,
    Override,
    OverrideAction,
    Person,
    Roster,
    RosterKind,
    Shift,
    choose_roster,
    gap_at,
    gaps,
    who_to_ring,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

ANNA = Person("anna", "+4915100000001", 1)
BERND = Person("bernd", "+4915100000002", 2)
CARL = Person("carl", "+4915100000003", 3)
DIETER = Person("dieter", "+4915100000004", 4)
ERIKA = Person("erika", "+4915100000005", 5)  # the regional escalation manager
FRANK = Person("frank", "+4915100000006", 6)

EVERY_DAY = range(7)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def roster(
    shifts: tuple[Shift, ...],
    *,
    overrides: tuple[Override, ...] = (),
    kind: RosterKind = RosterKind.DUTY,
    region: str = "de",
) -> Roster:
    return Roster(
        region=region,
        kind=kind,
        members=(ANNA, BERND, CARL),
        shifts=shifts,
        fallback=ERIKA,
        overrides=overrides,
    )


# Days 06:00-22:00 with anna then bernd, nights 22:00-06:00 with carl, every day.
DAY_AND_NIGHT = roster(
    tuple(Shift(d, time(6), time(22), ("anna", "bernd")) for d in EVERY_DAY)
    + tuple(Shift(d, time(22), time(6), ("carl",)) for d in EVERY_DAY)
)
DAYS = ("anna", "bernd")
NIGHT = ("carl",)


def names(plan_people: tuple[Person, ...]) -> tuple[str, ...]:
    return tuple(p.name for p in plan_people)


# Berlin: clocks go forward Sun 29 Mar 2026 02:00 CET -> 03:00 CEST (01:00 UTC) and back
# Sun 25 Oct 2026 03:00 CEST -> 02:00 CET (01:00 UTC). New York: forward Sun 8 Mar 2026
# 02:00 EST -> 03:00 EDT (07:00 UTC), back Sun 1 Nov 2026 02:00 EDT -> 01:00 EST (06:00 UTC).
DST_NIGHTS = [
    # Berlin, spring: the night shift runs Sat 22:00 CET (21:00Z) to Sun 06:00 CEST (04:00Z).
    ("berlin spring: 21:59 CET, day shift", BERLIN, utc(2026, 3, 28, 20, 59), DAYS),
    ("berlin spring: 22:00 CET, night starts", BERLIN, utc(2026, 3, 28, 21, 0), NIGHT),
    ("berlin spring: 01:59 CET, before the jump", BERLIN, utc(2026, 3, 29, 0, 59), NIGHT),
    ("berlin spring: 03:00 CEST, after the jump", BERLIN, utc(2026, 3, 29, 1, 0), NIGHT),
    ("berlin spring: 05:59 CEST, night ends soon", BERLIN, utc(2026, 3, 29, 3, 59), NIGHT),
    ("berlin spring: 06:00 CEST, day shift", BERLIN, utc(2026, 3, 29, 4, 0), DAYS),
    # Berlin, autumn: Sat 22:00 CEST (20:00Z) to Sun 06:00 CET (05:00Z), 02:xx twice.
    ("berlin autumn: 21:59 CEST, day shift", BERLIN, utc(2026, 10, 24, 19, 59), DAYS),
    ("berlin autumn: 22:00 CEST, night starts", BERLIN, utc(2026, 10, 24, 20, 0), NIGHT),
    ("berlin autumn: 02:30 CEST, first time", BERLIN, utc(2026, 10, 25, 0, 30), NIGHT),
    ("berlin autumn: 02:30 CET, second time", BERLIN, utc(2026, 10, 25, 1, 30), NIGHT),
    ("berlin autumn: 05:59 CET, night ends soon", BERLIN, utc(2026, 10, 25, 4, 59), NIGHT),
    ("berlin autumn: 06:00 CET, day shift", BERLIN, utc(2026, 10, 25, 5, 0), DAYS),
    # New York, spring: Sat 22:00 EST (03:00Z) to Sun 06:00 EDT (10:00Z).
    ("new york spring: 21:59 EST, day shift", NEW_YORK, utc(2026, 3, 8, 2, 59), DAYS),
    ("new york spring: 22:00 EST, night starts", NEW_YORK, utc(2026, 3, 8, 3, 0), NIGHT),
    ("new york spring: 01:59 EST, before the jump", NEW_YORK, utc(2026, 3, 8, 6, 59), NIGHT),
    ("new york spring: 03:00 EDT, after the jump", NEW_YORK, utc(2026, 3, 8, 7, 0), NIGHT),
    ("new york spring: 06:00 EDT, day shift", NEW_YORK, utc(2026, 3, 8, 10, 0), DAYS),
    # New York, autumn: Sat 22:00 EDT (02:00Z) to Sun 06:00 EST (11:00Z), 01:xx twice.
    ("new york autumn: 21:59 EDT, day shift", NEW_YORK, utc(2026, 11, 1, 1, 59), DAYS),
    ("new york autumn: 22:00 EDT, night starts", NEW_YORK, utc(2026, 11, 1, 2, 0), NIGHT),
    ("new york autumn: 01:30 EDT, first time", NEW_YORK, utc(2026, 11, 1, 5, 30), NIGHT),
    ("new york autumn: 01:30 EST, second time", NEW_YORK, utc(2026, 11, 1, 6, 30), NIGHT),
    ("new york autumn: 05:59 EST, night ends soon", NEW_YORK, utc(2026, 11, 1, 10, 59), NIGHT),
    ("new york autumn: 06:00 EST, day shift", NEW_YORK, utc(2026, 11, 1, 11, 0), DAYS),
]


@pytest.mark.parametrize(
    ("zone", "at", "expected"),
    [case[1:] for case in DST_NIGHTS],
    ids=[case[0] for case in DST_NIGHTS],
)
def test_the_shift_on_duty_follows_the_wall_clock_across_both_dst_changes(zone, at, expected):
    plan = who_to_ring(DAY_AND_NIGHT, at, zone)

    assert names(plan.on_duty) == expected
    assert names(plan.people) == (*expected, "erika")


NIGHT_ONLY = roster(tuple(Shift(d, time(22), time(6), ("carl",)) for d in EVERY_DAY))


@pytest.mark.parametrize(
    ("zone", "saturday", "hours"),
    [
        (BERLIN, date(2026, 3, 28), 7),  # spring forward: an hour shorter
        (BERLIN, date(2026, 10, 24), 9),  # fall back: an hour longer
        (BERLIN, date(2026, 11, 28), 8),
        (NEW_YORK, date(2026, 3, 7), 7),
        (NEW_YORK, date(2026, 10, 31), 9),
        (NEW_YORK, date(2026, 11, 28), 8),
    ],
)
def test_a_night_shift_lasts_as_long_as_the_wall_clock_says(zone, saturday, hours):
    start = datetime.combine(saturday, time(12), tzinfo=zone)
    end = start + timedelta(days=1)

    found = gaps(NIGHT_ONLY, start, end, zone)

    # Uncovered: Saturday noon to 22:00, then Sunday 06:00 to noon.
    assert [(g.local_start.hour, g.local_end.hour) for g in found] == [(12, 22), (6, 12)]
    night = found[1].starts_at - found[0].ends_at
    assert night == timedelta(hours=hours)


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
@pytest.mark.parametrize(
    "week_start",
    [date(2026, 3, 2), date(2026, 3, 23), date(2026, 10, 19), date(2026, 10, 26)],
)
def test_back_to_back_shifts_leave_no_gap_in_a_week_with_a_dst_change(zone, week_start):
    start = datetime.combine(week_start, time(0), tzinfo=zone)

    assert gaps(DAY_AND_NIGHT, start, start + timedelta(days=8), zone) == []


# A shift ending at "24:00" ends at the next day's 00:00, where the early shift takes over.
MIDNIGHT_SPLIT = roster(
    tuple(Shift(d, time(8), time(0), ("anna",)) for d in EVERY_DAY)
    + tuple(Shift(d, time(0), time(8), ("bernd",)) for d in EVERY_DAY)
)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2026, 3, 28, 23, 59, 59, tzinfo=BERLIN), ("anna",)),
        (datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN), ("bernd",)),
        (datetime(2026, 3, 29, 7, 59, tzinfo=BERLIN), ("bernd",)),
        (datetime(2026, 3, 29, 8, 0, tzinfo=BERLIN), ("anna",)),
        (datetime(2026, 10, 24, 23, 59, tzinfo=BERLIN), ("anna",)),
        (datetime(2026, 10, 25, 0, 0, tzinfo=BERLIN), ("bernd",)),
    ],
)
def test_a_shift_ending_at_24_00_runs_to_midnight(at, expected):
    assert names(who_to_ring(MIDNIGHT_SPLIT, at, BERLIN).on_duty) == expected
    assert MIDNIGHT_SPLIT.shifts[0].hours_text() == "08:00-24:00"


def test_a_midnight_split_roster_has_no_gaps_across_either_change():
    for first in (date(2026, 3, 27), date(2026, 10, 23)):
        start = datetime.combine(first, time(0), tzinfo=BERLIN)
        assert gaps(MIDNIGHT_SPLIT, start, start + timedelta(days=4), BERLIN) == []


def test_a_shift_without_members_rings_every_member_in_roster_order():
    everyone = roster((Shift(2, time(9), time(17)),))

    plan = who_to_ring(everyone, datetime(2026, 11, 25, 10, tzinfo=BERLIN), BERLIN)

    assert names(plan.people) == ("anna", "bernd", "carl", "erika")


def test_overlapping_shifts_ring_the_earlier_started_first_and_nobody_twice():
    layered = roster(
        (
            Shift(2, time(12), time(20), ("carl", "anna")),
            Shift(2, time(8), time(16), ("anna", "bernd")),
        )
    )

    plan = who_to_ring(layered, datetime(2026, 11, 25, 13, tzinfo=BERLIN), BERLIN)

    assert names(plan.on_duty) == ("anna", "bernd", "carl")


def christmas(action: OverrideAction, person: Person, substitute: Person | None = None):
    return Override(action, person, date(2026, 12, 24), date(2026, 12, 26), substitute, "Xmas")


CHRISTMAS_EVE_NOON = datetime(2026, 12, 24, 12, tzinfo=BERLIN)
OVERRIDES = [
    ("nobody changes", (), CHRISTMAS_EVE_NOON, ("anna", "bernd"), "erika"),
    (
        "anna is away",
        (christmas(OverrideAction.REMOVE, ANNA),),
        CHRISTMAS_EVE_NOON,
        ("bernd",),
        "erika",
    ),
    (
        "dieter stands in for anna, in her place",
        (christmas(OverrideAction.REPLACE, ANNA, DIETER),),
        CHRISTMAS_EVE_NOON,
        ("dieter", "bernd"),
        "erika",
    ),
    (
        "bernd stands in for anna: rung once, in her place",
        (christmas(OverrideAction.REPLACE, ANNA, BERND),),
        CHRISTMAS_EVE_NOON,
        ("bernd",),
        "erika",
    ),
    (
        "dieter is added after the shift's people",
        (christmas(OverrideAction.ADD, DIETER),),
        CHRISTMAS_EVE_NOON,
        ("anna", "bernd", "dieter"),
        "erika",
    ),
    (
        "an added person covers the night too",
        (christmas(OverrideAction.ADD, DIETER),),
        datetime(2026, 12, 25, 23, tzinfo=BERLIN),
        ("carl", "dieter"),
        "erika",
    ),
    (
        "the override ends at 24:00 of its last day",
        (christmas(OverrideAction.REMOVE, ANNA),),
        datetime(2026, 12, 27, 6, tzinfo=BERLIN),
        ("anna", "bernd"),
        "erika",
    ),
    (
        "the override starts at 00:00 of its first day, mid-shift",
        (christmas(OverrideAction.REMOVE, CARL),),
        datetime(2026, 12, 24, 0, 30, tzinfo=BERLIN),
        (),
        "erika",
    ),
    (
        "the night before the first day is untouched",
        (christmas(OverrideAction.REMOVE, CARL),),
        datetime(2026, 12, 23, 23, 59, tzinfo=BERLIN),
        ("carl",),
        "erika",
    ),
    (
        "the escalation manager's deputy takes the fallback",
        (christmas(OverrideAction.REPLACE, ERIKA, FRANK),),
        CHRISTMAS_EVE_NOON,
        ("anna", "bernd"),
        "frank",
    ),
    (
        "overrides apply in order",
        (
            christmas(OverrideAction.REPLACE, ANNA, DIETER),
            christmas(OverrideAction.REMOVE, DIETER),
        ),
        CHRISTMAS_EVE_NOON,
        ("bernd",),
        "erika",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "at", "on_duty", "fallback"),
    [case[1:] for case in OVERRIDES],
    ids=[case[0] for case in OVERRIDES],
)
def test_overrides_change_who_rings_for_their_local_dates(overrides, at, on_duty, fallback):
    changed = roster(DAY_AND_NIGHT.shifts, overrides=overrides)

    plan = who_to_ring(changed, at, BERLIN)

    assert names(plan.on_duty) == on_duty
    assert plan.fallback is not None
    assert plan.fallback.name == fallback


def test_nobody_on_duty_is_a_gap_and_rings_the_fallback_alone():
    weekdays = roster(tuple(Shift(d, time(8), time(18)) for d in range(5)))

    plan = who_to_ring(weekdays, datetime(2026, 11, 28, 12, tzinfo=BERLIN), BERLIN)

    assert plan.is_gap
    assert names(plan.people) == ("erika",)


def test_the_fallback_on_duty_is_rung_once():
    erika_too = Roster("de", RosterKind.DUTY, (ERIKA, ANNA), (Shift(2, time(0), time(0)),), ERIKA)

    plan = who_to_ring(erika_too, datetime(2026, 11, 25, 12, tzinfo=BERLIN), BERLIN)

    assert names(plan.people) == ("erika", "anna")


WEEKDAYS_ONLY = roster(tuple(Shift(d, time(8), time(18), DAYS) for d in range(5)))


def test_gaps_are_the_uncovered_local_intervals_merged():
    # Wednesday 25 Nov 2026 10:00 to Tuesday 1 Dec 10:00, Berlin.
    start = datetime(2026, 11, 25, 10, tzinfo=BERLIN)

    found = gaps(WEEKDAYS_ONLY, start, start + timedelta(days=6), BERLIN)

    assert [g.describe() for g in found] == [
        "Wed 2026-11-25 18:00 to Thu 2026-11-26 08:00 (Europe/Berlin)",
        "Thu 2026-11-26 18:00 to Fri 2026-11-27 08:00 (Europe/Berlin)",
        "Fri 2026-11-27 18:00 to Mon 2026-11-30 08:00 (Europe/Berlin)",
        "Mon 2026-11-30 18:00 to Tue 2026-12-01 08:00 (Europe/Berlin)",
    ]
    assert all(g.starts_at.tzinfo is UTC for g in found)


def test_a_removal_opens_a_gap_and_an_addition_closes_one():
    monday = date(2026, 11, 30)
    both_away = roster(
        WEEKDAYS_ONLY.shifts,
        overrides=(
            Override(OverrideAction.REMOVE, ANNA, monday, monday),
            Override(OverrideAction.REMOVE, BERND, monday, monday),
            Override(OverrideAction.ADD, DIETER, date(2026, 11, 28), date(2026, 11, 29)),
        ),
    )
    start = datetime(2026, 11, 27, 18, tzinfo=BERLIN)

    found = gaps(both_away, start, start + timedelta(days=4), BERLIN)

    assert [g.describe() for g in found] == [
        "Fri 2026-11-27 18:00 to Sat 2026-11-28 00:00 (Europe/Berlin)",
        "Mon 2026-11-30 00:00 to Tue 2026-12-01 08:00 (Europe/Berlin)",
    ]


def test_the_gap_an_instant_falls_in_has_its_real_bounds():
    at = datetime(2026, 11, 28, 12, tzinfo=BERLIN)

    gap = gap_at(WEEKDAYS_ONLY, at, BERLIN)

    assert gap == Gap(utc(2026, 11, 27, 17), utc(2026, 11, 30, 7), "Europe/Berlin")
    assert gap_at(WEEKDAYS_ONLY, datetime(2026, 11, 27, 12, tzinfo=BERLIN), BERLIN) is None


def test_a_roster_without_shifts_is_one_gap():
    empty = roster(())
    start = datetime(2026, 11, 25, tzinfo=BERLIN)

    assert gaps(empty, start, start + timedelta(days=7), BERLIN) == [
        Gap(start.astimezone(UTC), (start + timedelta(days=7)).astimezone(UTC), "Europe/Berlin")
    ]


GOVERNMENT = roster(DAY_AND_NIGHT.shifts, kind=RosterKind.US_GOVERNMENT, region="us")
US_DUTY = roster(DAY_AND_NIGHT.shifts, region="us")
DE_DUTY = roster(DAY_AND_NIGHT.shifts, region="de")


@pytest.mark.parametrize(
    ("rosters", "region", "us_government", "expected"),
    [
        ((DE_DUTY, US_DUTY, GOVERNMENT), "us", False, US_DUTY),
        ((DE_DUTY, US_DUTY, GOVERNMENT), "de", False, DE_DUTY),
        ((DE_DUTY, US_DUTY, GOVERNMENT), "us", True, GOVERNMENT),
        # An SR of another region escalated on a US government line: still that roster.
        ((DE_DUTY, US_DUTY, GOVERNMENT), "de", True, GOVERNMENT),
        # Never a duty roster for a US government escalation, whatever is missing.
        ((DE_DUTY, US_DUTY), "us", True, None),
        ((GOVERNMENT,), "de", False, None),
    ],
)
def test_a_us_government_escalation_rings_the_us_government_roster(
    rosters, region, us_government, expected
):
    assert choose_roster(rosters, region=region, is_us_government=us_government) is expected


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        who_to_ring(DAY_AND_NIGHT, datetime(2026, 11, 25, 12), BERLIN)  # noqa: DTZ001


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Shift(7, time(8), time(9)), "weekday"),
        (lambda: Override(OverrideAction.REMOVE, ANNA, date(2026, 1, 2), date(2026, 1, 1)), "ends"),
        (
            lambda: Override(OverrideAction.REPLACE, ANNA, date(2026, 1, 1), date(2026, 1, 1)),
            "substitute",
        ),
        (
            lambda: Override(OverrideAction.ADD, ANNA, date(2026, 1, 1), date(2026, 1, 1), BERND),
            "substitute",
        ),
    ],
)
def test_impossible_shifts_and_overrides_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()
