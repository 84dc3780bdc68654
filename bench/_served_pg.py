"""``hotline`` processes on a benchmark's PostgreSQL database: its migration and its server.

Shared by the claim and agent-ring benchmarks: ``migrate`` runs ``hotline db upgrade`` on the
database, ``ServedOnPostgres`` is ``hotline serve``'s environment on it (``start_real`` starts it),
optionally with the Twilio credentials of a local mock instead of a closed port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench._config import config_with_sms_senders
from bench._webhook_servers import RealAppEnv

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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))}
    env.update(
        HOTLINE_DATABASE_URL=database_url,
        HOTLINE_CONFIG=str(config_with_sms_senders(workdir)),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
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
