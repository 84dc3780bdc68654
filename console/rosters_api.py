"""JSON API for the duty-manager rosters: read a region's rosters, replace one, add an override.

A roster here has the shape of one ``[[rosters]]`` entry of the roster file
(``config.roster_file``) without its region, which the URL names: what ``GET`` lists under
``rosters`` can be sent back by ``PUT`` unchanged. Who is on duty now and the gaps of the
coming week are listed apart, under ``status``. Errors are problem+json naming the field and
the value.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response
from pydantic import AwareDatetime, BaseModel, Field

from config.dependencies import current
from config.roster_file import OverrideIn, RosterBody, hours_text
from console.auth import roles_allowed, signed_in
from console.openapi import API_PREFIX, documented
from console.problems import problem
from db.transaction import read_transaction, transaction
from escalations.rosters import (
    RosterRejected,
    StoredRoster,
    UnknownRoster,
    add_override,
    all_rosters,
    replace_roster,
)
from escalations.routing import WEEKDAY_NAMES, Gap, RosterKind, gaps, who_to_ring
from intake.catalog import Region
from intake.staff import Role

bp = Blueprint("rosters_api", __name__, url_prefix=f"{API_PREFIX}/rosters")

# Managers keep their region's rosters; admins, who set up staff, may read and replace a
# roster as `hotline roster import` does. Day-to-day absences (overrides) are the managers'.
ROSTER_KEEPERS = (Role.MANAGER, Role.ADMIN)
OVERRIDE_WRITERS = (Role.MANAGER,)
# How far ahead ``status`` lists the gaps.
AHEAD = timedelta(days=7)

TAGS = ("rosters",)


class OverrideBody(OverrideIn):
    """An override for the region's roster of ``kind``."""

    kind: RosterKind = RosterKind.DUTY


class RegionPath(BaseModel):
    """Which region's rosters."""

    region_key: str = Field(max_length=40, description="a region of config/hotline.toml")


class RosterGap(BaseModel):
    """A stretch of time nobody is on duty (the fallback alone would be rung)."""

    starts_at: AwareDatetime
    ends_at: AwareDatetime
    local_start: str
    local_end: str


class RosterStatus(BaseModel):
    """Who a roster rings now, its gaps of the coming week, and its last change."""

    kind: RosterKind
    on_duty_now: list[str]
    fallback_now: str | None
    gap_now: bool
    gaps_next_7_days: list[RosterGap]
    updated_at: AwareDatetime
    updated_by: str


class Rosters(BaseModel):
    """A region's rosters as written (what PUT takes), and their status now."""

    region: str
    timezone: str
    rosters: list[RosterBody]
    status: list[RosterStatus]


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def roster_json(stored: StoredRoster) -> dict[str, Any]:
    """A roster as written: what ``PUT`` takes."""
    spec = stored.spec
    return {
        "kind": spec.kind.value,
        "members": list(spec.members),
        "fallback": spec.fallback,
        "shifts": [
            {
                "days": [WEEKDAY_NAMES[day] for day in shift.days],
                "hours": hours_text(shift.starts, shift.ends),
                "members": list(shift.members),
            }
            for shift in spec.shifts
        ],
        "overrides": [
            {
                "action": o.action.value,
                "member": o.member,
                "substitute": o.substitute,
                "first_day": o.first_day.isoformat(),
                "last_day": o.last_day.isoformat(),
                "note": o.note,
            }
            for o in spec.overrides
        ],
    }


def _gap_json(gap: Gap) -> dict[str, str]:
    return {
        "starts_at": _iso(gap.starts_at),
        "ends_at": _iso(gap.ends_at),
        "local_start": gap.local_start.isoformat(),
        "local_end": gap.local_end.isoformat(),
    }


def status_json(stored: StoredRoster, region: Region, now: datetime) -> dict[str, Any]:
    """Who the roster rings now, its coming gaps, and its last change."""
    plan = who_to_ring(stored.roster, now, region.zone)
    return {
        "kind": stored.spec.kind.value,
        "on_duty_now": [p.name for p in plan.on_duty],
        "fallback_now": None if plan.fallback is None else plan.fallback.name,
        "gap_now": plan.is_gap,
        "gaps_next_7_days": [
            _gap_json(gap) for gap in gaps(stored.roster, now, now + AHEAD, region.zone)
        ],
        "updated_at": _iso(stored.updated_at),
        "updated_by": stored.updated_by,
    }


def _region(key: str) -> Region | Response:
    try:
        return current().catalog.region(key)
    except KeyError:
        return problem(404, "No such region", f"no region {key!r}")


def _refused(exc: RosterRejected) -> Response:
    first = exc.problems[0]
    return problem(
        422,
        "Roster refused",
        "; ".join(str(p) for p in exc.problems),
        field=first.field,
        value=first.value,
        problems=[{"field": p.field, "value": p.value, "message": p.message} for p in exc.problems],
    )


def _answer(region: Region) -> Rosters:
    deps = current()
    now = deps.clock.now()
    with read_transaction(deps.session_factory) as session:
        rosters = all_rosters(session, region.key)
    return Rosters(
        region=region.key,
        timezone=region.timezone,
        rosters=[RosterBody.model_validate(roster_json(r)) for r in rosters],
        status=[RosterStatus.model_validate(status_json(r, region, now)) for r in rosters],
    )


@bp.get("/<region_key>")
@roles_allowed(*ROSTER_KEEPERS)
@documented(response=Rosters, path=RegionPath, problems=(404,), tags=TAGS)
def get_rosters(path: RegionPath) -> Rosters | Response:
    """The region's rosters as written, with who is on duty now and the week's gaps."""
    region = _region(path.region_key)
    if isinstance(region, Response):
        return region
    return _answer(region)


@bp.put("/<region_key>")
@roles_allowed(*ROSTER_KEEPERS)
@documented(response=Rosters, path=RegionPath, body=RosterBody, problems=(404, 422), tags=TAGS)
def put_roster(path: RegionPath, body: RosterBody) -> Rosters | Response:
    """Replace the region's roster of the body's ``kind`` (default duty) whole; 422 lists
    every problem (unknown people, people without a phone, ...) with its field and value."""
    region = _region(path.region_key)
    if isinstance(region, Response):
        return region
    deps = current()
    try:
        with transaction(deps.session_factory) as session:
            replace_roster(
                session, body.spec(region.key), by=signed_in().name, now=deps.clock.now()
            )
    except RosterRejected as exc:
        return _refused(exc)
    return _answer(region)


@bp.post("/<region_key>/overrides")
@roles_allowed(*OVERRIDE_WRITERS)
@documented(
    response=Rosters,
    status=201,
    path=RegionPath,
    body=OverrideBody,
    problems=(404, 422),
    tags=TAGS,
)
def post_override(path: RegionPath, body: OverrideBody) -> Rosters | Response:
    """Add an override (replace, add or remove someone for local dates) to a roster."""
    region = _region(path.region_key)
    if isinstance(region, Response):
        return region
    deps = current()
    try:
        with transaction(deps.session_factory) as session:
            add_override(
                session,
                region=region.key,
                kind=body.kind,
                override=body.spec(),
                by=signed_in().name,
                now=deps.clock.now(),
            )
    except UnknownRoster as exc:
        return problem(404, "No such roster", str(exc))
    except RosterRejected as exc:
        return _refused(exc)
    return _answer(region)
