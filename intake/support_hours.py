"""Support hours: whether a product line is open, and arithmetic in business hours."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from intake.catalog import END_OF_DAY, HoursWindow, ProductLine, PromptSet, Region

# How far ahead the business-hours walk may look before it gives up: a configuration whose
# windows never come round (every day a holiday) must fail loudly, not loop forever.
MAX_SEARCH_DAYS = 3 * 366


def is_public_holiday(region: Region, local_date: date) -> bool:
    """Whether ``local_date`` is a public holiday in the region's country and subdivision."""
    return local_date in _holiday_dates(region.country, region.holiday_subdivision, local_date.year)


def is_open(line: ProductLine, region: Region, at: datetime) -> bool:
    """Whether the line's phones are staffed at the aware instant ``at`` (24x7 lines always are)."""
    _require_aware(at, "at")
    if line.hours is None:
        return True
    at_utc = at.astimezone(UTC)
    local_date = at_utc.astimezone(region.zone).date()
    return any(
        opens_at <= at_utc < closes_at
        for opens_at, closes_at in _open_spans(line, region, local_date)
    )


def add_business_hours(
    start: datetime, duration: timedelta, line: ProductLine, region: Region
) -> datetime:
    """The UTC instant at which ``duration`` of the line's open time has passed since ``start``."""
    _require_aware(start, "start")
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration}")
    start_utc = start.astimezone(UTC)
    if line.hours is None:
        return start_utc + duration
    if not any(window.opens < window.closes for window in line.hours):
        raise ValueError(f"product line {line.key!r} has no opening window")
    remaining = duration
    for local_date in _dates_from(start_utc.astimezone(region.zone).date()):
        for opens_at, closes_at in _open_spans(line, region, local_date):
            if closes_at <= start_utc:
                continue
            begin = max(opens_at, start_utc)
            available = closes_at - begin
            # ``<=`` so that a promise ending exactly at closing time is due at closing time,
            # not at the next opening.
            if remaining <= available:
                return begin + remaining
            remaining -= available
    raise ValueError(
        f"product line {line.key!r} in region {region.key!r} is not open for {duration} "
        f"within {MAX_SEARCH_DAYS} days of {start_utc.isoformat()}"
    )


def spoken_hours(line: ProductLine, prompts: PromptSet) -> str:
    """The line's weekly hours as callers hear them, e.g. "Monday to Friday from 6 a.m. to 6 p.m."

    Consecutive weekdays with the same window are named as one range; the words and the shape
    of each part come from the prompts (``weekday_names``, ``hours_days``, ``hours_span``,
    ``hours_time``), so a language is a prompts file, not code.
    """
    if line.hours is None:
        raise ValueError(f"product line {line.key!r} is open around the clock: it has no hours")
    names = prompts.items("weekday_names")
    groups: list[list[HoursWindow]] = []
    for window in sorted(line.hours, key=lambda w: w.weekday):
        previous = groups[-1][-1] if groups else None
        if (
            previous is not None
            and window.weekday == previous.weekday + 1
            and (window.opens, window.closes) == (previous.opens, previous.closes)
        ):
            groups[-1].append(window)
        else:
            groups.append([window])
    parts = []
    for group in groups:
        first, last = group[0], group[-1]
        days = (
            names[first.weekday]
            if first is last
            else prompts.text("hours_days", first=names[first.weekday], last=names[last.weekday])
        )
        parts.append(
            prompts.text(
                "hours_span",
                days=days,
                opens=_spoken_time(first.opens, prompts),
                closes=_spoken_time(first.closes, prompts),
            )
        )
    return "; ".join(parts)


def spoken_promise(line: ProductLine, prompts: PromptSet) -> str:
    """The line's callback promise as callers hear it ("30 minutes", "24 hours")."""
    return spoken_duration(line.callback_promise, prompts)


def spoken_duration(duration: timedelta, prompts: PromptSet) -> str:
    """A promise's length as callers hear it ("15 minutes", "24 hours")."""
    minutes = int(duration.total_seconds() // 60)
    # Whole hours above one are said in hours; anything else (one hour too) in minutes, which
    # keeps the prompts free of singular forms.
    if minutes > 60 and minutes % 60 == 0:
        return prompts.text("promise_hours", count=str(minutes // 60))
    return prompts.text("promise_minutes", count=str(minutes))


def _spoken_time(moment: time, prompts: PromptSet) -> str:
    if moment == END_OF_DAY:  # "24:00" in the configuration
        return prompts.text("hours_midnight")
    hour, minute = moment.hour, moment.minute
    am, pm = prompts.items("am_pm")
    return prompts.text(
        "hours_time_on_the_hour" if minute == 0 else "hours_time",
        hour24=str(hour),
        hour12=str(hour % 12 or 12),
        minute=f"{minute:02d}",
        am_pm=am if hour < 12 else pm,
    )


def _require_aware(value: datetime, name: str) -> None:
    """Reject a naive datetime, which names no instant."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")


def _dates_from(first: date) -> Iterator[date]:
    """``first`` and the following days, up to the search bound."""
    for offset in range(MAX_SEARCH_DAYS):
        yield first + timedelta(days=offset)


def _open_spans(
    line: ProductLine, region: Region, local_date: date
) -> list[tuple[datetime, datetime]]:
    """The line's open spans on ``local_date`` as sorted, merged UTC bounds (none on holidays)."""
    windows = [
        window
        for window in line.hours or ()
        if window.weekday == local_date.weekday() and window.opens < window.closes
    ]
    if not windows or is_public_holiday(region, local_date):
        return []
    # A window bounded inside a skipped changeover hour can resolve to nothing; drop it.
    spans = sorted(
        (opens_at, closes_at)
        for opens_at, closes_at in (_utc_bounds(w, local_date, region.zone) for w in windows)
        if opens_at < closes_at
    )
    if not spans:
        return []
    merged: list[tuple[datetime, datetime]] = [spans[0]]
    for opens_at, closes_at in spans[1:]:
        last_opens_at, last_closes_at = merged[-1]
        # Overlapping or touching windows count once, so no open minute is counted twice.
        if opens_at <= last_closes_at:
            merged[-1] = (last_opens_at, max(last_closes_at, closes_at))
        else:
            merged.append((opens_at, closes_at))
    return merged


def _utc_bounds(window: HoursWindow, local_date: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The window's wall-clock opening and closing on ``local_date`` as UTC instants."""
    # Each bound is resolved on its own, so a window spanning a DST change lasts as long as it
    # really does (one hour shorter in spring, longer in autumn). A wall time that occurs twice
    # resolves to its first occurrence and one skipped by the clocks to the pre-change offset
    # (PEP 495, fold=0); only windows bounded inside the changeover hour are affected.
    opens_at = datetime.combine(local_date, window.opens, tzinfo=zone).astimezone(UTC)
    closes_at = datetime.combine(local_date, window.closes, tzinfo=zone).astimezone(UTC)
    return opens_at, closes_at


@lru_cache(maxsize=256)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """The public holidays of one country (and subdivision) in one year."""
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))
