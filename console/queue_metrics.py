"""The callback queue in Prometheus: per region, callbacks waiting, at risk, breached, oldest wait.

Computed at scrape time from ``callbacks.queries.queue_figures`` (read in the scrape's one read
transaction), so every web process answers the same and none keeps a live gauge. Every
configured region is exposed, a quiet one with zeros: a series that vanishes when the queue
empties would leave alerts on it undecided.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from callbacks.queries import QueueFigures


class CallbackQueueCollector(Collector):
    """One scrape's callback queue figures as gauge families labelled by region."""

    def __init__(self, figures: Iterable[QueueFigures], regions: Iterable[str]) -> None:
        by_region = {figure.region: figure for figure in figures}
        self._rows = [(region, by_region.get(region)) for region in sorted({*regions, *by_region})]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The four families, one sample per region each."""
        waiting = _family("waiting", "Callbacks owed (queued, claimed or calling)")
        at_risk = _family("at_risk", "Callbacks unclaimed past their warning time")
        breached = _family("breached", "Callbacks past due with no call started")
        oldest = _family(
            "oldest_wait_seconds", "How long the longest-waiting caller with a callback has waited"
        )
        for region, figure in self._rows:
            waiting.add_metric([region], figure.waiting if figure else 0)
            at_risk.add_metric([region], figure.at_risk if figure else 0)
            breached.add_metric([region], figure.breached if figure else 0)
            oldest.add_metric([region], figure.oldest_wait.total_seconds() if figure else 0)
        yield from (waiting, at_risk, breached, oldest)


def _family(name: str, documentation: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"hotline_callbacks_{name}", documentation, labels=["region"])
