"""The agent-ring benchmark's arithmetic: which create answers which press, and the splits.

A press is one agent's ``POST /api/v1/callbacks/{id}/call``: when it left (``pressed``) and when
its 202 came back (``answered``). The ring is the ``calls.create`` the Twilio mock recorded for
that callback (its ``Url`` names the callback: ``...?callback=<id>&call=<n>``). Each ring time
splits into the API's part (pressed to 202) and the worker's pick-up (202 to create).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from bench._webhook_figures import percentile


@dataclass(frozen=True)
class Press:
    """One agent pressing "call" for one callback."""

    callback_id: int
    agent_id: int
    pressed: datetime
    answered: datetime
    status: int


@dataclass(frozen=True)
class RingTime:
    """Seconds from the press to the mock's create, split at the 202."""

    callback_id: int
    total: float
    api: float
    pickup: float


def callback_of(url: str | None) -> int | None:
    """The callback a call's webhook URL names (``callback=<id>``), if any."""
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("callback")
    if not values or not values[-1].isdigit():
        return None
    return int(values[-1])


def creates_by_callback(calls: Iterable[tuple[str | None, datetime]]) -> dict[int, list[datetime]]:
    """(Url, created) of the mock's calls -> callback id -> create times, oldest first."""
    found: dict[int, list[datetime]] = {}
    for url, created in calls:
        callback_id = callback_of(url)
        if callback_id is not None:
            found.setdefault(callback_id, []).append(created)
    return {key: sorted(times) for key, times in found.items()}


def ring_times(
    presses: Sequence[Press], creates: Mapping[int, Sequence[datetime]]
) -> list[RingTime]:
    """The ring time of every accepted press (202) whose callback the mock saw created."""
    times = []
    for press in presses:
        created = creates.get(press.callback_id)
        if press.status != 202 or not created:
            continue
        first = created[0]
        times.append(
            RingTime(
                callback_id=press.callback_id,
                total=(first - press.pressed).total_seconds(),
                api=(press.answered - press.pressed).total_seconds(),
                pickup=(first - press.answered).total_seconds(),
            )
        )
    return times


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
