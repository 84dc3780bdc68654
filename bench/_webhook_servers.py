"""Servers for the webhook benchmark: the real hotline and the bare baseline, on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench._config import config_with_sms_senders

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HEALTH_DEADLINE_SECONDS = 45.0
STOP_DEADLINE_SECONDS = 10.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServerError(RuntimeError):
    """A server (or its set-up) failed; the message carries the tail of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class GunicornSettings:
    """The settings both servers share (``hotline serve`` uses gthread workers)."""

    workers: int = 2
    threads: int = 4


@dataclass
class Server:
    """One gunicorn master started by the benchmark, with its log file."""

    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_healthy(self, deadline_seconds: float = HEALTH_DEADLINE_SECONDS) -> None:
        """Poll ``GET /healthz`` until 200; raise if the process dies or the deadline passes."""
        deadline = time.monotonic() + deadline_seconds
        last_error = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"{self.name} server exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
                    last_error = f"status {response.status}"
            except (urllib.error.URLError, OSError) as exc:
                last_error = str(exc)
            time.sleep(0.2)
        raise ServerError(
            f"{self.name} server not healthy after {deadline_seconds:.0f} s ({last_error}):\n"
            f"{self.log_tail()}"
        )

    def cpu_seconds(self) -> float:
        """User + system CPU of the master and its worker processes so far."""
        return _tree_cpu_seconds(self.pid)

    def worker_pids(self) -> list[int]:
        """The gunicorn worker processes (children of the master)."""
        return _children(self.pid)

    def stop(self) -> None:
        """SIGTERM the process group (graceful), SIGKILL it after the deadline."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_DEADLINE_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_DEADLINE_SECONDS)
        else:
            # The master is gone; make sure no orphaned worker of its group survives.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()


@dataclass(frozen=True)
class RealAppEnv:
    """Environment of the hotline processes: fresh SQLite, production mode, nothing external."""

    workdir: Path
    port: int
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    database_name: str = "bench.db"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_path(self) -> Path:
        return self.workdir / self.database_name

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database_path}"

    def environ(self) -> dict[str, str]:
        env = base_environ()
        env.update(
            HOTLINE_DATABASE_URL=self.database_url,
            HOTLINE_CONFIG=str(config_with_sms_senders(self.workdir)),
            TWILIO_ACCOUNT_SID="AC" + secrets.token_hex(16),
            TWILIO_AUTH_TOKEN=self.auth_token,
            HOTLINE_PUBLIC_BASE_URL=self.base_url,
            # A closed local port: should anything try Twilio's REST API, it fails locally.
            TWILIO_API_BASE_URL=f"http://127.0.0.1:{free_port()}",
        )
        return env


def base_environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))}
    # The checkout first: an editable install made before a package was added misses it.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def prepare_database(env: RealAppEnv) -> None:
    """``hotline db upgrade`` and the demo customers into a fresh SQLite file."""
    environ = env.environ()
    for args in (
        ["db", "upgrade"],
        ["customers", "import", str(REPO / "config" / "demo" / "customers.csv")],
    ):
        done = subprocess.run(
            [str(BIN / "hotline"), *args],
            cwd=REPO,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise ServerError(
                f"hotline {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}"
            )


def start_real(env: RealAppEnv, settings: GunicornSettings, name: str = "hotline") -> Server:
    """``hotline serve`` in production mode (no in-process worker); its log is ``<name>.log``."""
    command = [
        str(BIN / "hotline"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(env.port),
        "--workers",
        str(settings.workers),
        "--threads",
        str(settings.threads),
    ]
    return _spawn(name, command, env.environ(), env.workdir, env.base_url)


def start_bare(workdir: Path, port: int, auth_token: str, settings: GunicornSettings) -> Server:
    """The bare Flask baseline on gunicorn with the same worker class, workers and threads."""
    base_url = f"http://127.0.0.1:{port}"
    environ = base_environ()
    environ.update(TWILIO_AUTH_TOKEN=auth_token, HOTLINE_PUBLIC_BASE_URL=base_url)
    command = [
        str(BIN / "gunicorn"),
        "--worker-class",
        "gthread",
        "--workers",
        str(settings.workers),
        "--threads",
        str(settings.threads),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "30",
        "--graceful-timeout",
        "10",
        "bench.bare_app:create_app()",
    ]
    return _spawn("bare", command, environ, workdir, base_url)


def _spawn(name: str, command: list[str], env: dict[str, str], workdir: Path, url: str) -> Server:
    log_path = workdir / f"{name}.log"
    log = log_path.open("wb")
    # A session of its own: one killpg stops the master and every worker, and a Ctrl-C in the
    # terminal reaches the benchmark only, which then stops the servers in order.
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Server(name=name, base_url=url, process=process, log_path=log_path, _log=log)


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (``/proc/stat``: all but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user and nice)
    return (sum(fields[:8]) - fields[3] - fields[4]) / _CLOCK_TICKS


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat_fields(int(entry.name))
        if stat is not None and int(stat[1]) == pid:
            children.append(int(entry.name))
    return children


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state is index 0, ppid index 1)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _tree_cpu_seconds(pid: int) -> float:
    total = 0
    for each in [pid, *_children(pid)]:
        stat = _stat_fields(each)
        if stat is not None:
            # utime and stime are fields 14 and 15 of stat(5), i.e. 11 and 12 after the name.
            total += int(stat[11]) + int(stat[12])
    return total / _CLOCK_TICKS
