"""Support hours: opening windows, public holidays, DST and business-hours arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config.catalog import load_prompts
from config.settings import DEFAULT_CONFIG
from intake.catalog import END_OF_DAY, HoursWindow, ProductLine, PromptSet, Region
from intake.support_hours import (
    add_business_hours,
    is_open,
    is_public_holiday,
    spoken_hours,
    spoken_promise,
)
from tests.support.regions import make_region

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def make_line(
    hours: tuple[HoursWindow, ...] | None,
    promise: timedelta = timedelta(hours=24),
    *,
    key: str = "desktop",
) -> ProductLine:
    return ProductLine(
        key=key,
        name=key,
        products=(key,),
        hours=hours,
        callback_promise=promise,
        promise_in_business_hours=hours is not None,
    )


GERMANY = make_region("de", "Europe/Berlin", "DE", "+498001006711")
HESSE = make_region("de-he", "Europe/Berlin", "DE", "+498001006712", subdivision="HE")
BAVARIA = make_region("de-by", "Europe/Berlin", "DE", "+498001006713", subdivision="BY")
BERLIN_STATE = make_region("de-be", "Europe/Berlin", "DE", "+498001006714", subdivision="BE")
UNITED_STATES = make_region("us", "America/New_York", "US", "+18005550100")

# Seed: desktop products (Fusion, Workstation) are staffed Mon-Fri 06:00-18:00 local time.
DESKTOP = make_line(tuple(HoursWindow(day, time(6), time(18)) for day in range(5)))
ROUND_THE_CLOCK = make_line(None, timedelta(minutes=30), key="enterprise")
# A window across the night of a DST change (clocks change at 02:00/03:00 in Berlin).
SUNDAY_NIGHT = make_line((HoursWindow(6, time(1), time(5)),), key="night")


def berlin(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=BERLIN)


def new_york(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def open_minutes(line: ProductLine, region: Region, start: datetime, end: datetime) -> int:
    """Minutes between ``start`` and ``end`` at which ``is_open`` says the line is open."""
    # Step in UTC: adding to a zoned datetime adds wall-clock time, which DST would skew.
    first = start.astimezone(UTC)
    total = (end - first) // timedelta(minutes=1)
    return sum(is_open(line, region, first + timedelta(minutes=m)) for m in range(total))


# --- is_public_holiday ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "day"),
    [
        (GERMANY, date(2025, 10, 3)),  # German Unity Day, a Friday
        (GERMANY, date(2026, 4, 3)),  # Good Friday
        (GERMANY, date(2026, 4, 6)),  # Easter Monday
        (GERMANY, date(2026, 12, 25)),  # Christmas Day, a Friday
        (HESSE, date(2026, 6, 4)),  # Corpus Christi, Hesse only
        (BAVARIA, date(2027, 1, 6)),  # Epiphany, in Bavaria
        (BERLIN_STATE, date(2027, 3, 8)),  # International Women's Day, in Berlin
        (UNITED_STATES, date(2026, 11, 26)),  # Thanksgiving
        (UNITED_STATES, date(2026, 7, 3)),  # Independence Day observed (4 July is a Saturday)
    ],
)
def test_public_holidays_are_recognised(region: Region, day: date) -> None:
    assert is_public_holiday(region, day) is True


@pytest.mark.parametrize(
    ("region", "day"),
    [
        (GERMANY, date(2026, 12, 24)),  # Christmas Eve is a working day in Germany
        (GERMANY, date(2026, 6, 4)),  # Corpus Christi is not a nationwide holiday
        (BERLIN_STATE, date(2027, 1, 6)),  # Epiphany is not a holiday in Berlin
        (BAVARIA, date(2027, 3, 8)),  # nor Women's Day in Bavaria
        (GERMANY, date(2026, 11, 26)),  # Thanksgiving is American
        (UNITED_STATES, date(2026, 10, 5)),  # an ordinary Monday
    ],
)
def test_ordinary_days_are_not_public_holidays(region: Region, day: date) -> None:
    assert is_public_holiday(region, day) is False


# --- is_open -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local_time", "expected"),
    [
        (time(5, 59), False),
        (time(6, 0), True),
        (time(17, 59), True),
        (time(18, 0), False),
    ],
)
def test_desktop_line_opens_at_six_and_closes_at_eighteen_local_time(
    local_time: time, expected: bool
) -> None:
    monday = datetime.combine(date(2026, 3, 2), local_time, tzinfo=BERLIN)
    assert is_open(DESKTOP, GERMANY, monday) is expected


def test_desktop_line_is_open_in_the_last_microsecond_before_closing() -> None:
    assert is_open(DESKTOP, GERMANY, berlin(2026, 3, 2, 17, 59, 59, 999999)) is True


@pytest.mark.parametrize("day", [date(2026, 3, 7), date(2026, 3, 8)])
def test_desktop_line_is_closed_at_the_weekend(day: date) -> None:
    assert is_open(DESKTOP, GERMANY, datetime.combine(day, time(10), tzinfo=BERLIN)) is False


def test_desktop_line_is_closed_on_german_unity_day() -> None:
    assert is_open(DESKTOP, GERMANY, berlin(2025, 10, 2, 10)) is True
    assert is_open(DESKTOP, GERMANY, berlin(2025, 10, 3, 10)) is False


@pytest.mark.parametrize("day", [date(2026, 4, 3), date(2026, 4, 6), date(2026, 12, 25)])
def test_desktop_line_is_closed_on_german_public_holidays_on_weekdays(day: date) -> None:
    assert is_open(DESKTOP, GERMANY, datetime.combine(day, time(10), tzinfo=BERLIN)) is False


def test_corpus_christi_closes_the_desktop_line_in_hesse_only() -> None:
    corpus_christi = berlin(2026, 6, 4, 10)
    assert is_open(DESKTOP, HESSE, corpus_christi) is False
    assert is_open(DESKTOP, GERMANY, corpus_christi) is True


def test_us_desktop_line_is_closed_on_thanksgiving_but_the_german_one_is_open() -> None:
    assert is_open(DESKTOP, UNITED_STATES, new_york(2026, 11, 26, 10)) is False
    assert is_open(DESKTOP, GERMANY, berlin(2026, 11, 26, 10)) is True


def test_us_desktop_line_follows_new_york_time_not_utc() -> None:
    # 10:59 UTC is 05:59 EST (closed); 11:00 UTC is 06:00 EST (open).
    assert is_open(DESKTOP, UNITED_STATES, utc(2026, 3, 2, 10, 59)) is False
    assert is_open(DESKTOP, UNITED_STATES, utc(2026, 3, 2, 11, 0)) is True


def test_utc_instants_are_judged_in_winter_and_summer_local_time() -> None:
    # Winter (CET, UTC+1): 06:00 local is 05:00 UTC.
    assert is_open(DESKTOP, GERMANY, utc(2026, 3, 2, 4, 59)) is False
    assert is_open(DESKTOP, GERMANY, utc(2026, 3, 2, 5, 0)) is True
    # Summer (CEST, UTC+2): 06:00 local is 04:00 UTC, 18:00 local is 16:00 UTC.
    assert is_open(DESKTOP, GERMANY, utc(2026, 7, 6, 3, 59)) is False
    assert is_open(DESKTOP, GERMANY, utc(2026, 7, 6, 4, 0)) is True
    assert is_open(DESKTOP, GERMANY, utc(2026, 7, 6, 15, 59)) is True
    assert is_open(DESKTOP, GERMANY, utc(2026, 7, 6, 16, 0)) is False


def test_desktop_line_opens_an_hour_earlier_in_utc_on_the_monday_after_spring_forward() -> None:
    # 04:00 UTC: 05:00 CET on 23 March, 06:00 CEST on 30 March (clocks changed 29 March).
    assert is_open(DESKTOP, GERMANY, utc(2026, 3, 23, 4, 0)) is False
    assert is_open(DESKTOP, GERMANY, utc(2026, 3, 30, 4, 0)) is True


def test_desktop_line_opens_an_hour_later_in_utc_on_the_monday_after_fall_back() -> None:
    # 06:00 is 04:00 UTC in CEST (19 October) but 05:00 UTC in CET (26 October, after the 25th).
    assert is_open(DESKTOP, GERMANY, utc(2026, 10, 26, 4, 59)) is False
    assert is_open(DESKTOP, GERMANY, utc(2026, 10, 26, 5, 0)) is True
    assert is_open(DESKTOP, GERMANY, utc(2026, 10, 19, 4, 0)) is True


@pytest.mark.parametrize(
    "at",
    [
        berlin(2026, 3, 8, 3, 0),  # Sunday night
        berlin(2026, 12, 25, 23, 30),  # Christmas night
        berlin(2026, 3, 29, 3, 0),  # the first instant after spring forward
        new_york(2026, 11, 26, 12),  # Thanksgiving
    ],
)
def test_round_the_clock_line_is_always_open(at: datetime) -> None:
    assert is_open(ROUND_THE_CLOCK, GERMANY, at) is True
    assert is_open(ROUND_THE_CLOCK, UNITED_STATES, at) is True


def test_is_open_rejects_a_naive_datetime() -> None:
    naive = datetime(2026, 3, 2, 10)  # noqa: DTZ001 - the naive value under test
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(DESKTOP, GERMANY, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(ROUND_THE_CLOCK, GERMANY, naive)


# --- add_business_hours --------------------------------------------------------------------


def test_24_business_hours_from_monday_ten_end_on_wednesday_ten() -> None:
    due = add_business_hours(berlin(2026, 3, 2, 10), timedelta(hours=24), DESKTOP, GERMANY)
    assert due == berlin(2026, 3, 4, 10)
    assert due.utcoffset() == timedelta(0)


def test_24_business_hours_from_friday_evening_end_on_tuesday_at_closing() -> None:
    # Closed from Friday 19:00: Monday 06-18 and Tuesday 06-18 are the 24 business hours.
    due = add_business_hours(berlin(2026, 3, 6, 19), timedelta(hours=24), DESKTOP, GERMANY)
    assert due == utc(2026, 3, 10, 17, 0)  # Tuesday 18:00 CET


def test_counting_from_a_closed_weekend_starts_at_monday_opening() -> None:
    due = add_business_hours(berlin(2026, 3, 7, 11), timedelta(hours=1), DESKTOP, GERMANY)
    assert due == berlin(2026, 3, 9, 7)


def test_counting_before_opening_starts_at_opening() -> None:
    due = add_business_hours(berlin(2026, 3, 2, 5, 0), timedelta(hours=1), DESKTOP, GERMANY)
    assert due == berlin(2026, 3, 2, 7, 0)


def test_a_duration_that_fills_the_window_ends_at_closing_not_at_the_next_opening() -> None:
    due = add_business_hours(berlin(2026, 3, 2, 6), timedelta(hours=12), DESKTOP, GERMANY)
    assert due == berlin(2026, 3, 2, 18)


def test_a_zero_duration_outside_hours_is_the_next_opening() -> None:
    due = add_business_hours(berlin(2026, 3, 2, 18), timedelta(0), DESKTOP, GERMANY)
    assert due == berlin(2026, 3, 3, 6)


def test_easter_holidays_push_the_end_out_by_two_working_days() -> None:
    # Thu 10-18 (8 h), Good Friday, weekend, Easter Monday, Tue 06-18 (12 h), Wed 06-10 (4 h).
    due = add_business_hours(berlin(2026, 4, 2, 10), timedelta(hours=24), DESKTOP, GERMANY)
    assert due == utc(2026, 4, 8, 8, 0)  # Wednesday 10:00 CEST


def test_christmas_day_is_skipped_but_christmas_eve_counts() -> None:
    # Thu 24 Dec 10-18 (8 h), Fri 25 Dec holiday, weekend, Mon 12 h, Tue 06-10 (4 h).
    due = add_business_hours(berlin(2026, 12, 24, 10), timedelta(hours=24), DESKTOP, GERMANY)
    assert due == utc(2026, 12, 29, 9, 0)  # Tuesday 10:00 CET


def test_thanksgiving_is_skipped_in_the_us_region() -> None:
    # Wed 10-18 (8 h), Thanksgiving, Fri 06-18 (12 h), weekend, Mon 06-10 (4 h).
    due = add_business_hours(
        new_york(2026, 11, 25, 10), timedelta(hours=24), DESKTOP, UNITED_STATES
    )
    assert due == utc(2026, 11, 30, 15, 0)  # Monday 10:00 EST


def test_friday_message_before_the_october_change_is_due_tuesday_at_17_winter_time() -> None:
    # Fri 23 Oct 17:00 CEST: 1 h on Friday, clocks go back on Sunday 25 Oct, Mon 12 h, Tue 11 h.
    start = berlin(2026, 10, 23, 17)
    assert start.utcoffset() == timedelta(hours=2)
    due = add_business_hours(start, timedelta(hours=24), DESKTOP, GERMANY)
    assert due == utc(2026, 10, 27, 16, 0)  # Tuesday 17:00 CET, not 15:00 UTC


def test_friday_message_before_the_march_change_is_due_tuesday_at_17_summer_time() -> None:
    due = add_business_hours(berlin(2026, 3, 27, 17), timedelta(hours=24), DESKTOP, GERMANY)
    assert due == utc(2026, 3, 31, 15, 0)  # Tuesday 17:00 CEST


def test_friday_message_before_the_us_march_change_is_due_tuesday_at_17_daylight_time() -> None:
    due = add_business_hours(new_york(2026, 3, 6, 17), timedelta(hours=24), DESKTOP, UNITED_STATES)
    assert due == utc(2026, 3, 10, 21, 0)  # Tuesday 17:00 EDT


def test_a_window_across_spring_forward_lasts_three_real_hours() -> None:
    # Sunday 29 March 01:00 CET to 05:00 CEST is 00:00 to 03:00 UTC.
    start = berlin(2026, 3, 29, 1)
    assert add_business_hours(start, timedelta(hours=3), SUNDAY_NIGHT, GERMANY) == utc(
        2026, 3, 29, 3, 0
    )
    # A fourth hour only comes round the next Sunday night (01:00 CEST = 23:00 UTC Saturday).
    assert add_business_hours(start, timedelta(hours=4), SUNDAY_NIGHT, GERMANY) == utc(
        2026, 4, 5, 0, 0
    )


def test_a_window_across_fall_back_lasts_five_real_hours() -> None:
    # Sunday 25 October 01:00 CEST to 05:00 CET is 23:00 (Saturday) to 04:00 UTC.
    start = berlin(2026, 10, 25, 1)
    assert add_business_hours(start, timedelta(hours=5), SUNDAY_NIGHT, GERMANY) == utc(
        2026, 10, 25, 4, 0
    )
    assert is_open(SUNDAY_NIGHT, GERMANY, utc(2026, 10, 25, 1, 30)) is True  # 02:30 CET


@pytest.mark.parametrize(
    ("start", "duration"),
    [
        (berlin(2026, 10, 23, 17, 13), timedelta(hours=24)),
        (berlin(2026, 3, 27, 9, 41), timedelta(hours=13, minutes=7)),
        (berlin(2026, 4, 2, 17, 30), timedelta(minutes=90)),
        (berlin(2026, 12, 23, 23, 59), timedelta(hours=24)),
    ],
)
def test_business_hours_match_a_minute_by_minute_count_of_open_time(
    start: datetime, duration: timedelta
) -> None:
    due = add_business_hours(start, duration, DESKTOP, GERMANY)
    assert open_minutes(DESKTOP, GERMANY, start, due) == duration // timedelta(minutes=1)
    # The last minute counted was open time: the result is the earliest such instant.
    assert is_open(DESKTOP, GERMANY, due - timedelta(minutes=1)) is True


def test_round_the_clock_line_adds_plain_elapsed_time_across_dst_and_holidays() -> None:
    start = berlin(2026, 10, 25, 1, 50)  # Sunday, clocks go back at 03:00 CEST
    due = add_business_hours(start, timedelta(hours=2), ROUND_THE_CLOCK, GERMANY)
    assert due == utc(2026, 10, 25, 1, 50)
    assert due.tzinfo is UTC


def test_add_business_hours_rejects_a_naive_start() -> None:
    naive = datetime(2026, 3, 2, 10)  # noqa: DTZ001 - the naive value under test
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_hours(naive, timedelta(hours=1), DESKTOP, GERMANY)


def test_add_business_hours_rejects_a_negative_duration() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_hours(berlin(2026, 3, 2, 10), timedelta(minutes=-1), DESKTOP, GERMANY)


@pytest.mark.parametrize(
    "hours",
    [(), (HoursWindow(0, time(18), time(6)),)],
    ids=["no-windows", "only-an-inverted-window"],
)
def test_a_line_that_never_opens_is_refused_rather_than_searched_forever(
    hours: tuple[HoursWindow, ...],
) -> None:
    with pytest.raises(ValueError, match="no opening window"):
        add_business_hours(berlin(2026, 3, 2, 10), timedelta(hours=1), make_line(hours), GERMANY)


def test_overlapping_windows_count_each_open_minute_once() -> None:
    overlapping = make_line((HoursWindow(0, time(6), time(12)), HoursWindow(0, time(10), time(18))))
    due = add_business_hours(berlin(2026, 3, 2, 6), timedelta(hours=12), overlapping, GERMANY)
    assert due == berlin(2026, 3, 2, 18)


def test_a_split_day_skips_the_lunch_break() -> None:
    split = make_line((HoursWindow(0, time(8), time(12)), HoursWindow(0, time(13), time(17))))
    due = add_business_hours(berlin(2026, 3, 2, 11), timedelta(hours=2), split, GERMANY)
    assert due == berlin(2026, 3, 2, 14)


# --- zero business hours: the next opening ---------------------------------------------------


def opening(at: datetime) -> datetime:
    return add_business_hours(at, timedelta(0), DESKTOP, GERMANY)


def test_zero_business_hours_after_a_saturday_is_monday_at_six() -> None:
    assert opening(berlin(2026, 3, 7, 10)) == berlin(2026, 3, 9, 6)


def test_zero_business_hours_while_open_is_the_instant_itself() -> None:
    at = berlin(2026, 3, 2, 10, 15)
    assert opening(at) == at
    assert opening(at).tzinfo is UTC


def test_zero_business_hours_at_closing_time_is_the_next_morning() -> None:
    assert opening(berlin(2026, 3, 2, 18)) == berlin(2026, 3, 3, 6)


def test_zero_business_hours_skip_christmas_and_the_weekend() -> None:
    assert opening(berlin(2026, 12, 24, 18)) == utc(2026, 12, 28, 5, 0)  # Monday 06:00 CET


def test_zero_business_hours_across_spring_forward_end_at_six_summer_time() -> None:
    assert opening(berlin(2026, 3, 28, 12)) == utc(2026, 3, 30, 4, 0)  # Monday 06:00 CEST


# --- spoken hours and promises -------------------------------------------------------------


def shipped_prompts(language: str) -> PromptSet:
    return load_prompts(Path(DEFAULT_CONFIG).parent / "prompts" / f"{language}.toml", language)


def test_desktop_hours_are_spoken_as_one_weekday_range_in_english_and_german() -> None:
    assert (
        spoken_hours(DESKTOP, shipped_prompts("en-US")) == "Monday to Friday from 6 a.m. to 6 p.m."
    )
    assert (
        spoken_hours(DESKTOP, shipped_prompts("de-DE"))
        == "montags bis freitags von 6 Uhr bis 18 Uhr"
    )


def test_differing_days_are_spoken_as_separate_runs_with_minutes_noon_and_midnight() -> None:
    line = make_line(
        (
            *(HoursWindow(day, time(8, 30), time(12)) for day in range(3)),
            HoursWindow(3, time(9), time(17, 15)),
            HoursWindow(5, time(0), END_OF_DAY),
        )
    )
    assert spoken_hours(line, shipped_prompts("en-US")) == (
        "Monday to Wednesday from 8:30 a.m. to 12 p.m.; Thursday from 9 a.m. to 5:15 p.m.;"
        " Saturday from 12 a.m. to midnight"
    )
    assert spoken_hours(line, shipped_prompts("de-DE")) == (
        "montags bis mittwochs von 8:30 Uhr bis 12 Uhr; donnerstags von 9 Uhr bis 17:15 Uhr;"
        " samstags von 0 Uhr bis 24 Uhr"
    )


def test_a_gap_between_equal_days_starts_a_new_run() -> None:
    line = make_line((HoursWindow(0, time(6), time(18)), HoursWindow(2, time(6), time(18))))
    assert spoken_hours(line, shipped_prompts("en-US")) == (
        "Monday from 6 a.m. to 6 p.m.; Wednesday from 6 a.m. to 6 p.m."
    )


def test_a_round_the_clock_line_has_no_hours_to_speak() -> None:
    with pytest.raises(ValueError, match="around the clock"):
        spoken_hours(ROUND_THE_CLOCK, shipped_prompts("en-US"))


@pytest.mark.parametrize(
    ("promise", "english", "german"),
    [
        (timedelta(minutes=30), "30 minutes", "30 Minuten"),
        (timedelta(hours=1), "60 minutes", "60 Minuten"),
        (timedelta(minutes=90), "90 minutes", "90 Minuten"),
        (timedelta(hours=24), "24 hours", "24 Stunden"),
    ],
)
def test_promises_are_spoken_in_hours_when_whole_and_longer_than_one(
    promise: timedelta, english: str, german: str
) -> None:
    line = make_line(None, promise)
    assert spoken_promise(line, shipped_prompts("en-US")) == english
    assert spoken_promise(line, shipped_prompts("de-DE")) == german
