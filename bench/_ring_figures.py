"""The ring benchmarks' arithmetic: which create answers which press, the splits, the summary.

A press is whatever asks for a phone to ring: an agent's ``POST /api/v1/callbacks/{id}/call``,
a customer's last key of the escalation path, a duty manager's "2". It records when it left
(``pressed``), when its answer came back (``answered``) and the answer's status. The ring is the
``calls.create`` the Twilio mock recorded for it, found by the key its webhook URL names (a
callback, ``?callback=<id>&call=<n>``; an escalation's ring, ``?escalation=<id>&ring=<n>``).
Each ring time splits into the answer's part (pressed to answered) and the worker's pick-up
(answered to create). Pure, so ``tests/bench`` holds the benchmarks to their sums.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

from bench._claims_figures import median
from bench._webhook_figures import percentile

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Press(Generic[K]):
    """One press that should ring a phone: the ring it asks for (``rings``), its answer."""

    rings: K
    pressed: datetime
    answered: datetime
    status: int


@dataclass(frozen=True)
class RingTime(Generic[K]):
    """Seconds from the press to the mock's create, split where the press was answered."""

    rings: K
    total: float
    answer: float
    pickup: float


def _query_int(url: str | None, name: str) -> int | None:
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get(name)
    if not values or not values[-1].isdigit():
        return None
    return int(values[-1])


def callback_of(url: str | None) -> int | None:
    """The callback a call's webhook URL names (``callback=<id>``), if any."""
    return _query_int(url, "callback")


def escalation_ring_of(url: str | None) -> tuple[int, int] | None:
    """The escalation and ring number a call's webhook URL names (``escalation=<id>&ring=<n>``)."""
    escalation, ring = _query_int(url, "escalation"), _query_int(url, "ring")
    if escalation is None or ring is None:
        return None
    return escalation, ring


def creates_by(
    calls: Iterable[tuple[str | None, datetime]], key_of: Callable[[str | None], K | None]
) -> dict[K, list[datetime]]:
    """(Url, created) of the mock's calls -> the key their Url names -> create times, oldest
    first; calls naming none are left out."""
    found: dict[K, list[datetime]] = {}
    for url, created in calls:
        key = key_of(url)
        if key is not None:
            found.setdefault(key, []).append(created)
    return {key: sorted(times) for key, times in found.items()}


def ring_times(
    presses: Sequence[Press[K]], creates: Mapping[K, Sequence[datetime]], *, accepted: int
) -> list[RingTime[K]]:
    """The ring time of every press answered with ``accepted`` whose ring the mock saw."""
    times = []
    for press in presses:
        created = creates.get(press.rings)
        if press.status != accepted or not created:
            continue
        first = created[0]
        times.append(
            RingTime(
                rings=press.rings,
                total=(first - press.pressed).total_seconds(),
                answer=(press.answered - press.pressed).total_seconds(),
                pickup=(first - press.answered).total_seconds(),
            )
        )
    return times


def unrung(wanted: Iterable[K], creates: Mapping[K, Sequence[datetime]]) -> list[K]:
    """The rings asked for that the mock never saw created."""
    return sorted((key for key in wanted if key not in creates), key=repr)


def rung_twice(wanted: Iterable[K], creates: Mapping[K, Sequence[datetime]]) -> list[K]:
    """The rings asked for that the mock saw created more than once."""
    return sorted((key for key in wanted if len(creates.get(key, ())) > 1), key=repr)


def spread_ms(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p90, p99 and max of ``values`` (seconds), in milliseconds."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {
        "p50_ms": ms(percentile(values, 0.50)),
        "p90_ms": ms(percentile(values, 0.90)),
        "p99_ms": ms(percentile(values, 0.99)),
        "max_ms": ms(max(values, default=None)),
    }


def ratio(value: float | None, floor: float | None) -> float | None:
    """``value`` over ``floor``; None when either is unknown or the floor is 0."""
    if value is None or not floor:
        return None
    return round(value / floor, 1)


def median_round(rounds: Sequence[Mapping[str, Any]], figure: str, stat: str) -> float | None:
    """The median over the rounds of ``round[figure][stat]``; None when a round lacks it."""
    values = [r[figure][stat] for r in rounds]
    if not values or any(v is None for v in values):
        return None
    return median(values)


def ms_text(value: float | None) -> str:
    """A figure in milliseconds as printed: ``-`` when unknown."""
    return "-" if value is None else f"{value:g} ms"


def spread_text(spread: Mapping[str, float | None]) -> str:
    """``p50 12 ms p90 ...`` of a ``spread_ms``."""
    return " ".join(f"{key.removesuffix('_ms')} {ms_text(value)}" for key, value in spread.items())
