"""Callback promises: due instants per product line and the warning before a breach."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from callbacks.promises import callback_due_at, retry_at, warn_at
from intake.catalog import HoursWindow, ProductLine
from tests.support.regions import make_region

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


GERMANY = make_region("de", "Europe/Berlin", "DE", "+498001006711")
UNITED_STATES = make_region("us", "America/New_York", "US", "+18005550100")

# Seed: Fusion and Workstation are staffed Mon-Fri 06:00-18:00 local; a message left outside
# those hours is answered "within 24 hours", counted in business hours.
DESKTOP = ProductLine(
    key="desktop",
    name="Desktop",
    products=("Fusion", "Workstation"),
    hours=tuple(HoursWindow(day, time(6), time(18)) for day in range(5)),
    callback_promise=timedelta(hours=24),
    promise_in_business_hours=True,
)
# Seed: all other products are staffed 24x7 and call back "within 30 minutes".
ENTERPRISE = ProductLine(
    key="enterprise",
    name="Enterprise",
    products=("vSphere", "vSAN"),
    hours=None,
    callback_promise=timedelta(minutes=30),
    promise_in_business_hours=False,
)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def new_york(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- callback_due_at -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        (utc(2026, 3, 2, 10, 0), utc(2026, 3, 2, 10, 30)),  # a Monday morning
        (utc(2026, 3, 7, 23, 45), utc(2026, 3, 8, 0, 15)),  # Saturday night, across midnight
        (utc(2026, 12, 25, 2, 0), utc(2026, 12, 25, 2, 30)),  # Christmas Day
        (berlin(2026, 10, 25, 2, 50), utc(2026, 10, 25, 1, 20)),  # 02:50 CEST, clocks go back
        (berlin(2026, 3, 29, 1, 45), utc(2026, 3, 29, 1, 15)),  # 01:45 CET, clocks go forward
    ],
)
def test_callback_is_due_30_minutes_after_the_message_for_24x7_products(
    created_at: datetime, expected: datetime
) -> None:
    due = callback_due_at(ENTERPRISE, GERMANY, created_at=created_at)
    assert due == expected
    assert due - created_at == timedelta(minutes=30)
    assert due.tzinfo is UTC


def test_desktop_message_left_friday_evening_is_due_tuesday_at_closing() -> None:
    # 24 business hours at 12 h a day: Monday 06-18 and Tuesday 06-18.
    due = callback_due_at(DESKTOP, GERMANY, created_at=berlin(2026, 3, 6, 19, 0))
    assert due == utc(2026, 3, 10, 17, 0)  # Tuesday 18:00 CET
    assert due.tzinfo is UTC


def test_desktop_message_left_monday_at_ten_is_due_wednesday_at_ten() -> None:
    due = callback_due_at(DESKTOP, GERMANY, created_at=berlin(2026, 3, 2, 10, 0))
    assert due == utc(2026, 3, 4, 9, 0)  # Wednesday 10:00 CET


def test_desktop_message_left_at_the_weekend_is_due_tuesday_at_closing() -> None:
    due = callback_due_at(DESKTOP, GERMANY, created_at=utc(2026, 3, 8, 12, 0))
    assert due == utc(2026, 3, 10, 17, 0)


def test_easter_holidays_push_a_desktop_promise_past_the_long_weekend() -> None:
    # Thu 10-18 (8 h), Good Friday, weekend, Easter Monday, Tue 12 h, Wed 06-10 (4 h).
    due = callback_due_at(DESKTOP, GERMANY, created_at=berlin(2026, 4, 2, 10, 0))
    assert due == utc(2026, 4, 8, 8, 0)  # Wednesday 10:00 CEST


def test_thanksgiving_pushes_a_us_desktop_promise_to_monday() -> None:
    # Wed 10-18 (8 h), Thanksgiving, Fri 12 h, weekend, Mon 06-10 (4 h).
    due = callback_due_at(DESKTOP, UNITED_STATES, created_at=new_york(2026, 11, 25, 10, 0))
    assert due == utc(2026, 11, 30, 15, 0)  # Monday 10:00 EST


def test_desktop_message_left_friday_before_the_october_change_is_due_tuesday_17_cet() -> None:
    # Fri 17:00 CEST leaves 1 h; clocks go back on Sunday; Mon 12 h; Tue 06:00 + 11 h = 17:00 CET.
    due = callback_due_at(DESKTOP, GERMANY, created_at=berlin(2026, 10, 23, 17, 0))
    assert due == utc(2026, 10, 27, 16, 0)


def test_callback_due_at_rejects_a_naive_creation_time() -> None:
    naive = datetime(2026, 3, 2, 10)  # noqa: DTZ001 - the naive value under test
    with pytest.raises(ValueError, match="timezone-aware"):
        callback_due_at(ENTERPRISE, GERMANY, created_at=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        callback_due_at(DESKTOP, GERMANY, created_at=naive)


# --- warn_at -------------------------------------------------------------------------------


TEN_MINUTES = timedelta(minutes=10)


def test_managers_are_warned_10_minutes_before_a_30_minute_promise_breaks() -> None:
    created_at = utc(2026, 3, 2, 10, 0)
    due = callback_due_at(ENTERPRISE, GERMANY, created_at=created_at)
    warning = warn_at(due, created_at=created_at, lead=TEN_MINUTES)
    assert warning == utc(2026, 3, 2, 10, 20)
    assert warning.tzinfo is UTC


def test_a_promise_shorter_than_the_lead_is_warned_of_at_once() -> None:
    created_at = utc(2026, 3, 2, 10, 0)
    due = utc(2026, 3, 2, 10, 5)
    assert warn_at(due, created_at=created_at, lead=TEN_MINUTES) == created_at


def test_warning_for_an_already_due_promise_is_the_due_instant() -> None:
    at = utc(2026, 3, 2, 10, 0)
    assert warn_at(at, created_at=at, lead=TEN_MINUTES) == at


def test_warning_is_given_in_utc_for_zoned_inputs() -> None:
    warning = warn_at(
        berlin(2026, 3, 2, 10, 30), created_at=berlin(2026, 3, 2, 10, 0), lead=TEN_MINUTES
    )
    assert warning == utc(2026, 3, 2, 9, 20)
    assert warning.tzinfo is UTC


def test_a_customer_not_reached_is_called_again_after_the_lines_retry_interval() -> None:
    assert retry_at(utc(2026, 3, 2, 10, 0), ENTERPRISE) == utc(2026, 3, 2, 10, 10)


def test_warn_at_rejects_a_due_instant_before_the_message() -> None:
    with pytest.raises(ValueError, match="precedes"):
        warn_at(utc(2026, 3, 2, 9, 59), created_at=utc(2026, 3, 2, 10, 0), lead=TEN_MINUTES)


def test_warn_at_rejects_naive_datetimes() -> None:
    naive = datetime(2026, 3, 2, 10)  # noqa: DTZ001 - the naive value under test
    with pytest.raises(ValueError, match="timezone-aware"):
        warn_at(naive, created_at=utc(2026, 3, 2, 10, 0), lead=TEN_MINUTES)
    with pytest.raises(ValueError, match="timezone-aware"):
        warn_at(utc(2026, 3, 2, 10, 30), created_at=naive, lead=TEN_MINUTES)
