"""The webhook benchmark on a database with a past: 100 000 earlier calls, 1 000 000 turns.

The history is made once per run into a template file (``hotline db upgrade`` and the demo
customers, as for the empty database, then ``bench._history_fill``) and copied for each round,
so that every round starts from the same database. Each round serves its copy with a
``hotline serve`` of its own (the empty database's settings) only while its phase runs.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench._history_fill import fill_sqlite_file
from bench._webhook_servers import (
    GunicornSettings,
    RealAppEnv,
    Server,
    free_port,
    prepare_database,
    start_real,
)
from config.catalog import load_catalog
from config.settings import DEFAULT_CONFIG

BIG_DB_CALLS = 100_000
TARGET_BIG_DB_RATIO = 0.9
TEMPLATE_NAME = "history-template.db"
COPY_NAME = "history.db"


@dataclass(frozen=True)
class HistoryTemplate:
    """The migrated database with the history in it, copied for each round."""

    path: Path
    rows: dict[str, int]
    fill_seconds: float  # the generator: making and inserting the rows
    total_seconds: float  # with ``hotline db upgrade`` and the customers before it
    workers: int
    size_bytes: int

    @property
    def calls(self) -> int:
        return self.rows["calls"]

    @property
    def turns(self) -> int:
        return self.rows["call_turns"]

    def results(self) -> dict[str, object]:
        """For the JSON results."""
        return {
            "rows": self.rows,
            "fill_seconds": round(self.fill_seconds, 2),
            "total_seconds": round(self.total_seconds, 2),
            "workers": self.workers,
            "size_bytes": self.size_bytes,
        }

    @property
    def label(self) -> str:
        """The database by its turns, as the figures name it: "1M-turn db"."""
        turns = self.turns
        if turns >= 1_000_000:
            return f"{turns / 1e6:g}M-turn db"
        return f"{turns / 1e3:g}k-turn db" if turns >= 1_000 else f"{turns}-turn db"

    def describe(self) -> str:
        return (
            f"{_count(self.turns)} turns of {_count(self.calls)} earlier calls "
            f"({_count(self.rows['service_requests'])} SRs), made in {self.fill_seconds:.1f} s "
            f"({self.workers} worker processes; {self.total_seconds:.1f} s with the migration), "
            f"{self.size_bytes / 1e6:.0f} MB"
        )


def _count(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def make_template(workdir: Path, calls: int, *, workers: int = 2) -> HistoryTemplate:
    """A fresh database like the empty one's, holding ``calls`` earlier calls (10 turns each)."""
    began = time.monotonic()
    env = RealAppEnv(workdir=workdir, port=free_port(), database_name=TEMPLATE_NAME)
    prepare_database(env)
    # The newest earlier call ended an hour before the benchmark's first.
    until = datetime.now(UTC) - timedelta(hours=1)
    catalog = load_catalog(DEFAULT_CONFIG)  # the one ``hotline serve`` loads here
    report = fill_sqlite_file(env.database_path, catalog, calls=calls, until=until, workers=workers)
    return HistoryTemplate(
        path=env.database_path,
        rows=report.rows,
        fill_seconds=report.seconds,
        total_seconds=time.monotonic() - began,
        workers=workers,
        size_bytes=env.database_path.stat().st_size,
    )


@contextmanager
def serving_copy(
    template: HistoryTemplate,
    settings: GunicornSettings,
    auth_token: str,
    started: list[Server],
) -> Iterator[Server]:
    """A fresh copy of ``template`` served by ``hotline serve`` until the block ends.

    The server is in ``started`` meanwhile, so an interrupted run stops it with the others.
    """
    env = RealAppEnv(
        workdir=template.path.parent,
        port=free_port(),
        auth_token=auth_token,
        database_name=COPY_NAME,
    )
    _remove(env.database_path)
    shutil.copyfile(template.path, env.database_path)
    server = start_real(env, settings, name="hotline-history")
    started.append(server)
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()
        started.remove(server)
        _remove(env.database_path)


def _remove(database: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".writers"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
