"""The roster file (``hotline roster import``) and the roster API's body: format and validation.

A TOML file holds one or more rosters; ``config/demo/roster.toml`` is an example::

    [[rosters]]
    region = "de"               # a region of hotline.toml
    kind = "duty"               # "duty" (default) or "us_government"
    members = ["anna", "bernd"] # user names (active, with a phone), in ring order
    fallback = "erika"          # the regional escalation manager: rung last, always

    [[rosters.shifts]]
    days = ["monday", "tuesday", "wednesday", "thursday", "friday"]
    hours = "07:00-19:00"       # local time of the region; "24:00" ends at midnight
    members = ["anna", "bernd"] # who rings, in order; left out: every member in order

    [[rosters.shifts]]
    days = ["monday", "tuesday", "wednesday", "thursday", "friday"]
    hours = "19:00-07:00"       # an end not after the start is the next day's (equal: 24 h)

    [[rosters.overrides]]
    action = "replace"          # "replace" (needs substitute), "add" or "remove"
    member = "anna"
    substitute = "carl"         # any active user with a phone
    first_day = 2026-12-24      # local dates, both included (from 00:00 to 24:00)
    last_day = 2026-12-26
    note = "Christmas"

A shift is in the region's local time, so it follows the clocks across DST changes. ``remove``
takes a person off every shift for the dates, ``replace`` puts the substitute in their place
(the fallback too: their deputy), ``add`` puts the person on duty all day after the shifts'
people; the fallback cannot be removed. Importing replaces each listed roster (its region and
kind) whole, overrides included, in one transaction; rosters of other regions and kinds stay.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from datetime import date, time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from escalations.rosters import OverrideSpec, RosterProblem, RosterSpec, ShiftSpec
from escalations.routing import MIDNIGHT, WEEKDAY_NAMES, OverrideAction, RosterKind
from intake.catalog import Catalog

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
NAME = Field(min_length=1, max_length=120)


class RosterFileError(Exception):
    """The file cannot be imported; each problem names the file, the field and the value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShiftIn(_Strict):
    """Weekly shifts: the same local hours on each of ``days``."""

    days: list[Weekday] = Field(min_length=1, max_length=7)
    hours: str
    members: list[str] = Field(default_factory=list)

    @field_validator("days")
    @classmethod
    def _once_each(cls, days: list[Weekday]) -> list[Weekday]:
        if len(set(days)) != len(days):
            raise ValueError("a day is listed twice")
        return days

    @field_validator("hours")
    @classmethod
    def _hours(cls, hours: str) -> str:
        parse_hours(hours)
        return hours


class OverrideIn(_Strict):
    """A change of who rings for local dates."""

    action: OverrideAction
    member: str = NAME
    substitute: str | None = Field(default=None, min_length=1, max_length=120)
    first_day: date
    last_day: date
    note: str | None = Field(default=None, max_length=400)

    def spec(self) -> OverrideSpec:
        """The override as the roster services take it."""
        return OverrideSpec(
            action=self.action,
            member=self.member,
            first_day=self.first_day,
            last_day=self.last_day,
            substitute=self.substitute,
            note=self.note,
        )


class RosterBody(_Strict):
    """A roster without its region (the API's URL names the region)."""

    kind: RosterKind = RosterKind.DUTY
    members: list[str] = Field(min_length=1, max_length=100)
    fallback: str = NAME
    shifts: list[ShiftIn] = Field(default_factory=list, max_length=500)
    overrides: list[OverrideIn] = Field(default_factory=list, max_length=500)

    def spec(self, region: str) -> RosterSpec:
        """The roster as the roster services take it."""
        return RosterSpec(
            region=region,
            kind=self.kind,
            members=tuple(self.members),
            fallback=self.fallback,
            shifts=tuple(
                ShiftSpec(
                    days=tuple(WEEKDAY_NAMES.index(day) for day in shift.days),
                    starts=parse_hours(shift.hours)[0],
                    ends=parse_hours(shift.hours)[1],
                    members=tuple(shift.members),
                )
                for shift in self.shifts
            ),
            overrides=tuple(o.spec() for o in self.overrides),
        )


class RosterIn(RosterBody):
    """A roster in a file: with its region."""

    region: str = Field(min_length=1, max_length=40)


class _RosterFile(_Strict):
    rosters: list[RosterIn] = Field(min_length=1)


def parse_hours(hours: str) -> tuple[time, time]:
    """``"22:00-06:00"`` as its local start and end; an end of "24:00" is 00:00."""
    match = HOURS.match(hours)
    if match is None:
        raise ValueError("not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError("not a time of day (00:00 to 23:59; an end may be 24:00)")
    return time(h1, m1), MIDNIGHT if h2 == 24 else time(h2, m2)


def hours_text(starts: time, ends: time) -> str:
    """The shift's hours as written: ``"19:00-07:00"``, ``"08:00-24:00"``."""
    end = "24:00" if ends == MIDNIGHT else f"{ends:%H:%M}"
    return f"{starts:%H:%M}-{end}"


def field_path(location: Sequence[int | str]) -> str:
    """``("rosters", 0, "shifts", 1, "hours")`` as ``rosters[0].shifts[1].hours``."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def validation_problems(error: ValidationError) -> list[tuple[str, str, str]]:
    """Each error as (field, value, message)."""
    found = []
    for e in error.errors():
        value = e.get("input")
        shown = "" if isinstance(value, dict | list) or value is None else str(value)
        message = e["msg"].removeprefix("Value error, ")
        found.append((field_path(e["loc"]), shown, message))
    return found


def load_roster_file(
    path: Path, *, catalog: Catalog, region: str | None = None
) -> list[tuple[int, RosterSpec]]:
    """The rosters in ``path`` (only ``region``'s when given), each with its index in the file;
    raises ``RosterFileError`` naming every problem."""
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
    except FileNotFoundError:
        raise RosterFileError([f"{path}: file not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise RosterFileError([f"{path}: not valid TOML: {exc}"]) from None
    try:
        parsed = _RosterFile.model_validate(data)
    except ValidationError as exc:
        raise RosterFileError(
            [problem_line(path, *problem) for problem in validation_problems(exc)]
        ) from None
    regions = [r.key for r in catalog.regions]
    problems = []
    seen: set[tuple[str, RosterKind]] = set()
    for i, roster in enumerate(parsed.rosters):
        if roster.region not in regions:
            problems.append(
                problem_line(
                    path,
                    f"rosters[{i}].region",
                    roster.region,
                    f"not a configured region ({', '.join(regions)})",
                )
            )
        if (roster.region, roster.kind) in seen:
            problems.append(
                problem_line(
                    path,
                    f"rosters[{i}].kind",
                    roster.kind.value,
                    f"region {roster.region!r} has a {roster.kind.value} roster already",
                )
            )
        seen.add((roster.region, roster.kind))
    chosen = [
        (i, roster.spec(roster.region))
        for i, roster in enumerate(parsed.rosters)
        if region is None or roster.region == region
    ]
    if not chosen and not problems:
        problems.append(f"{path}: rosters: no roster of region {region!r}")
    if problems:
        raise RosterFileError(problems)
    return chosen


def problem_line(path: Path, field: str, value: str, message: str) -> str:
    """``FILE: field = 'value': message``."""
    return f"{path}: {field} = {value!r}: {message}" if value else f"{path}: {field}: {message}"


def roster_problem_line(path: Path, index: int, problem: RosterProblem) -> str:
    """A refusal of the roster services, located in the file."""
    return problem_line(path, f"rosters[{index}].{problem.field}", problem.value, problem.message)
