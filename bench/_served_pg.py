"""``hotline`` processes on a benchmark's PostgreSQL database: its migration and its server.

Shared by the claim and agent-ring benchmarks: ``migrate`` runs ``hotline db upgrade`` on the
database, ``ServedOnPostgres`` is ``hotline serve``'s environment on it (``start_real`` starts it),
optionally with the Twilio credentials of a local mock instead of a closed port; and the bits of
their command lines (the PostgreSQL probe, SIGTERM as Ctrl-C, a positive count).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bench._config import config_with_sms_senders
from bench._webhook_servers import RealAppEnv, base_environ

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServedOnPostgres(RealAppEnv):
    """``hotline serve``'s environment with the benchmark's PostgreSQL database.

    With ``twilio_api_base_url`` (and the mock's ``account_sid`` and ``auth_token``) the
    process's Twilio client talks to that mock; without, to a closed local port.
    """

    postgres_url: str = ""
    twilio_api_base_url: str | None = None
    account_sid: str | None = None

    @property
    def database_url(self) -> str:
        return self.postgres_url

    def environ(self) -> dict[str, str]:
        env = super().environ()
        if self.twilio_api_base_url is not None:
            env["TWILIO_API_BASE_URL"] = self.twilio_api_base_url
        if self.account_sid is not None:
            env["TWILIO_ACCOUNT_SID"] = self.account_sid
        return env


def migrate(database_url: str, workdir: Path) -> None:
    """``hotline db upgrade`` on ``database_url``; raises RuntimeError with its stderr."""
    env = base_environ()
    env.update(
        HOTLINE_DATABASE_URL=database_url,
        HOTLINE_CONFIG=str(config_with_sms_senders(workdir)),
    )
    done = subprocess.run(
        [str(Path(sys.executable).parent / "hotline"), "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"hotline db upgrade failed ({done.returncode}):\n{done.stderr[-2000:]}")


def postgres_reachable(url: str, prog: str) -> bool:
    """Whether PostgreSQL answers at ``url``; when not, says so (the benchmark is skipped)."""
    import psycopg

    try:
        psycopg.connect(
            re.sub(r"^postgresql\+\w+://", "postgresql://", url), connect_timeout=3
        ).close()
    except psycopg.Error as exc:
        print(f"{prog}: PostgreSQL not reachable at {url} ({exc}); skipped, no figures.")
        return False
    return True


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so servers, workers and the database are cleaned up."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def positive(value: str) -> int:
    """An argparse type: an integer of at least 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number
