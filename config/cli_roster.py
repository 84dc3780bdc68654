"""``hotline roster ...``: import the duty-manager rosters from a file, show who is on duty."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from config.cli_support import settings_or_exit

if TYPE_CHECKING:
    from escalations.rosters import StoredRoster
    from intake.catalog import Region

# Gaps are looked for this far ahead at import and in ``roster show``.
AHEAD = timedelta(days=7)


@click.group()
def roster() -> None:
    """Duty-manager rosters: who is rung when a customer escalates."""


@roster.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--region", default=None, help="Import only this region's rosters (e.g. de).")
def roster_import(file: Path, region: str | None) -> None:
    """Replace the rosters FILE lists (TOML, see README) in one transaction; warn of gaps."""
    from config.catalog import CatalogError, load_catalog
    from config.clock import SystemClock
    from config.roster_file import RosterFileError, load_roster_file, roster_problem_line
    from db.engine import make_engine
    from db.transaction import make_session_factory, transaction
    from escalations.rosters import RosterRejected, replace_roster

    settings = settings_or_exit()
    try:
        catalog = load_catalog(settings.config_path)
        specs = load_roster_file(file, catalog=catalog, region=region)
    except (CatalogError, RosterFileError) as exc:
        _fail(exc.problems, heading=f"{file}: nothing imported:")
        return
    now = SystemClock().now()
    problems: list[str] = []
    stored: list[StoredRoster] = []
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            for index, spec in specs:
                try:
                    stored.append(
                        replace_roster(session, spec, by=f"roster import {file.name}", now=now)
                    )
                except RosterRejected as exc:
                    problems.extend(roster_problem_line(file, index, p) for p in exc.problems)
            if problems:
                raise _Refused
    except _Refused:
        _fail(problems, heading=f"{file}: nothing imported:")
    finally:
        engine.dispose()
    for one in stored:
        spec = one.spec
        shifts = sum(len(s.days) for s in spec.shifts)
        click.echo(
            f"imported {spec.region} {spec.kind.value} roster: {len(spec.members)} member(s), "
            f"{shifts} weekly shift(s), {len(spec.overrides)} override(s), "
            f"fallback {spec.fallback}"
        )
        for line in _gap_lines(one, catalog.region(spec.region), now):
            click.echo(f"warning: {file}: {spec.region} {spec.kind.value}: {line}", err=True)


@roster.command("show")
@click.option("--region", default=None, help="Only this region (e.g. de).")
def roster_show(region: str | None) -> None:
    """Print who is on duty now, the weekly shifts, coming overrides and gaps of each roster."""
    from config.catalog import CatalogError, load_catalog
    from config.clock import SystemClock
    from db.engine import make_engine
    from db.transaction import make_session_factory, read_transaction
    from escalations.rosters import all_rosters
    from escalations.routing import RosterKind

    settings = settings_or_exit()
    try:
        catalog = load_catalog(settings.config_path)
    except CatalogError as exc:
        _fail(exc.problems)
        return
    keys = [r.key for r in catalog.regions]
    if region is not None and region not in keys:
        raise click.BadParameter(
            f"{region!r} is not one of {', '.join(keys)}", param_hint="--region"
        )
    engine = make_engine(settings.database_url)
    try:
        with read_transaction(make_session_factory(engine)) as session:
            rosters = all_rosters(session, region)
    finally:
        engine.dispose()
    now = SystemClock().now()
    have = {(r.spec.region, r.spec.kind) for r in rosters}
    for key in keys if region is None else [region]:
        if (key, RosterKind.DUTY) not in have:
            click.echo(f"{key} duty: no roster: an escalation would ring nobody")
    for one in rosters:
        if one.spec.region in keys:
            for line in roster_lines(one, catalog.region(one.spec.region), now):
                click.echo(line)


def roster_lines(stored: StoredRoster, region: Region, now: datetime) -> list[str]:
    """One roster as ``roster show`` prints it."""
    from config.roster_file import hours_text
    from escalations.routing import WEEKDAY_NAMES, who_to_ring

    spec = stored.spec
    zone = region.zone
    local_now = now.astimezone(zone)
    plan = who_to_ring(stored.roster, now, zone)
    on_duty = ", ".join(p.name for p in plan.on_duty) or "nobody (gap)"
    fallback = plan.fallback.name if plan.fallback else "none"
    lines = [
        f"{spec.region} {spec.kind.value} ({region.timezone}), "
        f"updated {stored.updated_at:%Y-%m-%d %H:%M}Z by {stored.updated_by}",
        f"  on duty now ({local_now:%a %H:%M}): {on_duty}; then fallback {fallback}",
        "  weekly shifts:",
    ]
    rows = sorted(
        ((day, shift) for shift in spec.shifts for day in shift.days),
        key=lambda row: (row[0], row[1].starts),
    )
    for day, shift in rows:
        people = ", ".join(shift.members) or "every member: " + ", ".join(spec.members)
        lines.append(
            f"    {WEEKDAY_NAMES[day][:3].title()} {hours_text(shift.starts, shift.ends)}  {people}"
        )
    if not rows:
        lines.append("    none")
    coming = [o for o in spec.overrides if o.last_day >= local_now.date()]
    if coming:
        lines.append("  overrides:")
    for o in coming:
        who = f"{o.member} by {o.substitute}" if o.substitute else o.member
        note = f" ({o.note})" if o.note else ""
        lines.append(f"    {o.first_day} to {o.last_day}: {o.action.value} {who}{note}")
    gap_lines = _gap_lines(stored, region, now)
    lines.append("  gaps in the next 7 days:" + ("" if gap_lines else " none"))
    lines.extend(f"    {line}" for line in gap_lines)
    return lines


def _gap_lines(stored: StoredRoster, region: Region, now: datetime) -> list[str]:
    from escalations.routing import gaps

    fallback = stored.roster.fallback
    only = f"only {fallback.name} (fallback) would be rung" if fallback else "nobody would be rung"
    return [
        f"nobody on duty {gap.describe()}: {only}"
        for gap in gaps(stored.roster, now, now + AHEAD, region.zone)
    ]


def _fail(problems: list[str], *, heading: str | None = None) -> None:
    if heading:
        click.echo(heading, err=True)
    for problem in problems:
        click.echo(f"  {problem}" if heading else f"error: {problem}", err=True)
    sys.exit(1)


class _Refused(Exception):
    """Some roster of the file was refused: the whole import is rolled back."""
