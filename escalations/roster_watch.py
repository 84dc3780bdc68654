"""Whether each roster has somebody on duty now, and which gaps are new since the last look.

A gap is a stretch when no shift covers the roster: only the fallback (the regional escalation
manager) would be rung. Every configured region is expected to have a duty roster: a region
without one is a gap too. A US government roster is watched where one exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from escalations.roster_records import RosterGapWarning
from escalations.rosters import all_rosters
from escalations.routing import Gap, RingPlan, RosterKind, gap_at, who_to_ring
from intake.catalog import Catalog

# How far either side of now a gap's bounds are looked for. A gap that began before this is
# still one gap: it is not warned of again as its visible start moves on.
LOOK = timedelta(days=8)


@dataclass(frozen=True)
class RosterCover:
    """One roster's state now: who would be rung, and the gap now if nobody is on duty."""

    region: str
    kind: RosterKind
    plan: RingPlan | None  # None: the region has no roster of this kind
    gap: Gap | None

    @property
    def is_gap(self) -> bool:
        """Whether no shift covers now (or there is no roster at all)."""
        return self.plan is None or self.plan.is_gap


@dataclass(frozen=True)
class GapReport:
    """What changed since the last look: gaps opened (to warn of) and gaps closed."""

    opened: list[RosterCover] = field(default_factory=list)
    closed: list[RosterCover] = field(default_factory=list)


def roster_covers(session: Session, *, catalog: Catalog, now: datetime) -> list[RosterCover]:
    """Each configured region's duty roster and every other roster of a configured region,
    as they stand at ``now``."""
    stored = {(s.spec.region, s.spec.kind): s.roster for s in all_rosters(session)}
    regions = {region.key: region for region in catalog.regions}
    keys = {(key, RosterKind.DUTY) for key in regions}
    keys.update(key for key in stored if key[0] in regions)
    covers = []
    for region_key, kind in sorted(keys):
        roster = stored.get((region_key, kind))
        if roster is None:
            covers.append(RosterCover(region_key, kind, None, None))
            continue
        zone = regions[region_key].zone
        plan = who_to_ring(roster, now, zone)
        gap = gap_at(roster, now, zone, look=LOOK) if plan.is_gap else None
        covers.append(RosterCover(region_key, kind, plan, gap))
    return covers


def note_gaps(session: Session, *, catalog: Catalog, now: datetime) -> GapReport:
    """Compare every roster's state with the last look and remember it: a gap is reported once
    when it opens, and once when it closes, however often this runs in between."""
    report = GapReport()
    known = {
        (row.region, row.kind): row
        for row in session.scalars(select(RosterGapWarning).with_for_update())
    }
    for cover in roster_covers(session, catalog=catalog, now=now):
        row = known.get((cover.region, cover.kind.value))
        if not cover.is_gap:
            if row is not None and row.gap_since is not None:
                row.gap_since = None
                report.closed.append(cover)
            continue
        # None: the start is not known (no roster, or the gap began before LOOK).
        since = None
        if cover.gap is not None and cover.gap.starts_at > now - LOOK:
            since = cover.gap.starts_at
        if row is None:
            row = RosterGapWarning(region=cover.region, kind=cover.kind.value)
            session.add(row)
        elif row.gap_since is not None and (since is None or since <= row.gap_since):
            continue  # the gap already warned of
        row.gap_since = since or now
        row.warned_at = now
        report.opened.append(cover)
    session.flush()
    return report
