"""Work done while the SQLite writer lock is held, counted in Python function calls.

``python -m bench.lock_calls`` walks the webhook benchmark's complete message-taking calls
(``bench._webhook_load.walk_complete_call``, the same two caller profiles) through the app
in-process (the Flask test client, no HTTP) on a fresh SQLite file, and profiles (cProfile)
every stretch from taking the writer lock (``db.transaction``) to giving it back. Served, the
web processes queue behind the lock's holder, so its every call costs throughput; unlike wall
time, the count does not move with the machine's load.

Printed per 100 complete calls: the calls made under the lock in all, per kind of webhook
(the step answered, or the status callback) and for the holds that settle a message into an
SR; ``--top N`` adds the functions with the most calls under the lock (cumulative). Then the
same calls are walked again with each request profiled whole, for the share of a request's
calls that the lock covers.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient

import db.transaction
from bench._config import config_with_sms_senders
from bench._served_pg import positive
from bench._webhook_load import PROFILES, walk_complete_call
from config.app import create_app
from config.settings import DEFAULT_CONFIG, LOCAL_AUTH_TOKEN, Settings
from config.wiring import build_dependencies
from db.base import Base
from db.engine import make_engine
from db.transaction import transaction
from intake.customers import import_customers_csv
from ivr.call_walker import CallWalker

BASE_URL = "http://hotline.bench"
DEMO_CSV = DEFAULT_CONFIG.parent / "demo" / "customers.csv"
# Functions whose presence under the lock marks a hold as settling a message into an SR.
_SETTLING = "settle_message"


@dataclass
class Holds:
    """The writer lock's holds of one kind: how many, and the function calls made in them."""

    count: int = 0
    calls: int = 0


@dataclass
class LockProfiler:
    """Profiles each hold of the writer lock separately (a hold's kind is known only after it)."""

    kind: str = "setup"
    by_kind: dict[str, Holds] = field(default_factory=lambda: defaultdict(Holds))
    settling: Holds = field(default_factory=Holds)
    total: pstats.Stats | None = None
    settling_total: pstats.Stats | None = None
    _profile: cProfile.Profile | None = None

    def start(self) -> None:
        self._profile = cProfile.Profile()
        self._profile.enable()

    def stop(self) -> None:
        profile, self._profile = self._profile, None
        if profile is None:
            return
        profile.disable()
        stats = pstats.Stats(profile)
        calls = stats.total_calls  # type: ignore[attr-defined]  # (set by pstats, untyped)
        holds = self.by_kind[self.kind]
        holds.count += 1
        holds.calls += calls
        if any(name == _SETTLING for (_, _, name) in stats.stats):  # type: ignore[attr-defined]
            self.settling.count += 1
            self.settling.calls += calls
            self.settling_total = _added(self.settling_total, profile)
        self.total = _added(self.total, profile)

    def reset(self) -> None:
        self.by_kind.clear()
        self.settling = Holds()
        self.total = None
        self.settling_total = None


def _added(total: pstats.Stats | None, profile: cProfile.Profile) -> pstats.Stats:
    if total is None:
        return pstats.Stats(profile)
    total.add(profile)
    return total


@contextmanager
def profiled_writer_lock(profiler: LockProfiler) -> Iterator[None]:
    """Profile from the moment the writer lock is taken until it is given back."""
    writers = db.transaction._SqliteWriters
    acquire, release = writers.acquire, writers.release

    def profiled_acquire(self: db.transaction._SqliteWriters) -> None:
        acquire(self)
        profiler.start()

    def profiled_release(self: db.transaction._SqliteWriters) -> None:
        profiler.stop()
        release(self)

    writers.acquire = profiled_acquire  # type: ignore[method-assign]
    writers.release = profiled_release  # type: ignore[method-assign]
    try:
        yield
    finally:
        writers.acquire = acquire  # type: ignore[method-assign]
        writers.release = release  # type: ignore[method-assign]


def _kind_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.path.endswith("/voice"):
        return "voice:" + parse_qs(parts.query).get("step", ["greeting"])[0]
    return parts.path.removeprefix("/ivr/")


def run(calls: int, warmup: int, top: int, workdir: Path, whole_top: int = 0) -> None:
    database_url = f"sqlite:///{workdir / 'lock.db'}"
    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    settings = Settings.from_env(
        {
            "HOTLINE_DATABASE_URL": database_url,
            "HOTLINE_LOCAL_MODE": "1",
            "HOTLINE_CONFIG": str(config_with_sms_senders(workdir)),
        },
        cwd=workdir,
    )
    deps = build_dependencies(settings, public_base_url=BASE_URL)
    with transaction(deps.session_factory) as session:
        import_customers_csv(
            session, DEMO_CSV.read_text(), catalog=deps.catalog, now=deps.clock.now()
        )
    client: FlaskClient = create_app(settings, deps).test_client()
    profiler = LockProfiler()
    whole: list[cProfile.Profile] = []  # the second pass: each request as a whole

    def transport(url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        profiler.kind = _kind_of(url)
        if whole:
            whole[0].enable()
        try:
            response = client.post(url, data=form, headers=headers)
        finally:
            if whole:
                whole[0].disable()
        return response.status_code, response.get_data(as_text=True)

    def walk(index: int) -> None:
        profile = PROFILES[index % len(PROFILES)]
        walker = CallWalker(
            transport=transport,
            base_url=BASE_URL,
            auth_token=LOCAL_AUTH_TOKEN,
            to=profile.to,
            from_=f"{profile.from_prefix}{index % 100:02d}",
        )
        walk_complete_call(walker, profile)

    with profiled_writer_lock(profiler):
        for index in range(warmup):  # compiled statements and caches, as in a served process
            walk(index)
        profiler.reset()
        for index in range(warmup, warmup + calls):
            walk(index)
    # The same calls again with each request profiled whole (the Flask test client's request
    # included, the walker's side not): how much of a request's work the lock covers.
    whole.append(cProfile.Profile())
    for index in range(warmup + calls, warmup + 2 * calls):
        walk(index)
    deps.engine.dispose()
    _report(profiler, calls, top)
    whole_stats = pstats.Stats(whole[0])
    if whole_top:
        out = io.StringIO()
        whole_stats.stream = out  # type: ignore[attr-defined]
        whole_stats.sort_stats("tottime").print_stats(whole_top)
        print("-- heaviest functions of the requests in all (own time):")
        print(out.getvalue())
    in_all = whole_stats.total_calls  # type: ignore[attr-defined]
    under_lock = sum(h.calls for h in profiler.by_kind.values())
    print(
        f"function calls of the requests in all per 100 calls: {in_all * 100 / calls:,.0f}"
        f" (under the lock: {under_lock / max(in_all, 1):.1%})"
    )


def _report(profiler: LockProfiler, calls: int, top: int) -> None:
    per_100 = 100 / calls
    total = sum(h.calls for h in profiler.by_kind.values())
    holds = sum(h.count for h in profiler.by_kind.values())
    print(f"{calls} complete calls; writer lock held {holds} times")
    print(f"function calls under the lock per 100 calls: {total * per_100:,.0f}")
    print(f"{'kind':<28} {'holds/100':>10} {'calls/100':>12} {'per hold':>10} {'share':>7}")
    rows = sorted(profiler.by_kind.items(), key=lambda item: -item[1].calls)
    settling = profiler.settling
    for kind, h in [*rows, ("(holds settling an SR)", settling)]:
        print(
            f"{kind:<28} {h.count * per_100:>10.0f} {h.calls * per_100:>12,.0f}"
            f" {h.calls / max(h.count, 1):>10,.0f} {h.calls / max(total, 1):>7.1%}"
        )
    for title, stats in (("all holds", profiler.total), ("settling", profiler.settling_total)):
        if top and stats is not None:
            out = io.StringIO()
            stats.stream = out  # type: ignore[attr-defined]
            stats.sort_stats("cumulative").print_stats(top)
            print(f"-- heaviest functions under the lock, {title} (cumulative):")
            print(out.getvalue())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lock_calls", description=__doc__)
    parser.add_argument("--calls", type=positive, default=100, help="complete calls measured")
    parser.add_argument("--warmup", type=int, default=20, help="complete calls not measured")
    parser.add_argument("--top", type=int, default=0, help="list the N heaviest functions")
    parser.add_argument(
        "--whole-top", type=int, default=0, help="list the N heaviest functions of whole requests"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hotline-lock-") as workdir:
        run(args.calls, args.warmup, args.top, Path(workdir), args.whole_top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
