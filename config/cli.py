"""The ``hotline`` command: serve, worker, database, customers, users, rosters and a terminal
phone."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from config.cli_agent import answer
from config.cli_queue import queue
from config.cli_roster import roster
from config.cli_support import refuse as _refuse
from config.cli_support import settings_or_exit as _settings
from config.cli_users import user
from config.settings import Settings

# The worker's defaults, repeated so ``hotline --help`` need not import APScheduler; a test
# checks they match config.worker.
DEFAULT_LEASE_SECONDS = 10.0
DEFAULT_TICK_SECONDS = 0.25


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_work() -> None:
    """Refuse to start when the domains' work does not fit (a kind twice, an unknown port)."""
    from config.work_domains import domain_work
    from db.jobs import WorkDeclarationError

    try:
        domain_work()
    except WorkDeclarationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _catalog(settings: Settings, *, sends: bool = False) -> Any:
    """The validated catalog; ``sends``: the process builds the senders, so each region needs
    an SMS sender when Twilio credentials are set."""
    from config.catalog import CatalogError, load_catalog
    from config.settings import sending_problems

    try:
        catalog = load_catalog(settings.config_path)
    except CatalogError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(1)
    problems = sending_problems(settings, catalog) if sends else []
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if problems:
        sys.exit(1)
    return catalog


@click.group()
def main() -> None:
    """Support-hotline call intake: Twilio voice webhooks, service requests and callbacks."""
    from config.logging import configure_logging

    configure_logging()


# -- serve ------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
# Processes rather than threads: a webhook is CPU work in Python, and threads of one process
# share one interpreter lock (bench.webhooks: 4 x 1 serves ~40 % more calls than 2 x 4).
@click.option(
    "--workers",
    default=2 * (os.cpu_count() or 1),
    show_default="2 per core",
    type=int,
    help="Web processes.",
)
@click.option("--threads", default=1, show_default=True, type=int, help="Threads per process.")
@click.option(
    "--with-worker",
    is_flag=True,
    help="Local mode: run the worker inside the web process(es); Twilio credentials optional.",
)
def serve(host: str, port: int, workers: int, threads: int, with_worker: bool) -> None:
    """Serve the webhooks, API and health endpoints with gunicorn."""
    from gunicorn.app.base import BaseApplication

    settings = _settings()
    if with_worker:
        settings = settings.as_local()
    _refuse(settings.startup_problems())
    if settings.local_mode and not _is_loopback(host):
        # Local mode accepts webhooks signed with the token published in this repository.
        _refuse(
            [
                f"--host {host}: local mode (--with-worker or HOTLINE_LOCAL_MODE) binds loopback"
                " only (127.0.0.1, ::1 or localhost); set TWILIO_AUTH_TOKEN and"
                " HOTLINE_PUBLIC_BASE_URL to serve other hosts"
            ]
        )
    # Fail before forking when the configuration is broken (every web process builds senders).
    _catalog(settings, sends=True)
    if with_worker:
        _check_work()
    # Production has HOTLINE_PUBLIC_BASE_URL (checked above). Local mode without it checks
    # signatures against the address each request came to, so any --host works.
    public_base_url = settings.public_base_url
    # Webhook timings from every web process add up in /metrics (prometheus_client's
    # multiprocess mode); must be set before any process imports prometheus_client.
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
        prefix="hotline-metrics-"
    )
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    def child_exit(_server: Any, server_worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(server_worker.pid)  # type: ignore[no-untyped-call]

    def post_worker_init(server_worker: Any) -> None:
        from config.worker import Worker

        app = server_worker.wsgi
        Worker(app.extensions["hotline"]).start_in_background()

    class Server(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 30)
            self.cfg.set("graceful_timeout", 10)
            self.cfg.set("accesslog", None)
            self.cfg.set("child_exit", child_exit)
            if with_worker:
                self.cfg.set("post_worker_init", post_worker_init)

        def load(self) -> Any:
            # Runs in each web process after the fork: engines and pools are never shared.
            from config.app import create_app
            from config.logging import configure_logging
            from config.wiring import build_dependencies

            configure_logging()
            deps = build_dependencies(settings, public_base_url=public_base_url)
            return create_app(settings, deps)

    mode = "production mode"
    if settings.local_mode:
        mode = "local mode, worker in-process" if with_worker else "local mode"
    shown = public_base_url or f"http://{host}:{port}"
    click.echo(f"serving on http://{host}:{port} ({mode}); webhooks at {shown}/ivr/voice")
    Server().run()


# -- worker -----------------------------------------------------------------------------------


@main.command()
@click.option("--once", is_flag=True, help="Drain the work due now, then exit.")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--batch", default=20, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--lease-seconds",
    default=DEFAULT_LEASE_SECONDS,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="How long a claim holds without renewal; a killed worker's work resumes after it.",
)
@click.option(
    "--tick-seconds",
    default=DEFAULT_TICK_SECONDS,
    show_default=True,
    type=click.FloatRange(min=0.05, max=1.0),
    help="How often due work is claimed.",
)
def worker(
    once: bool, concurrency: int, batch: int, lease_seconds: float, tick_seconds: float
) -> None:
    """Run the worker: confirmations, call settlement and every other promise."""
    import signal
    from datetime import timedelta

    from config.wiring import build_dependencies
    from config.worker import Worker

    settings = _settings()
    # Without Twilio credentials the worker would log SMS and calls instead of sending them.
    _refuse(settings.startup_problems())
    _check_work()
    deps = build_dependencies(settings, catalog=_catalog(settings, sends=True))
    runner = Worker(
        deps,
        concurrency=concurrency,
        batch_size=batch,
        lease=timedelta(seconds=lease_seconds),
        tick_seconds=tick_seconds,
    )
    if once:
        ran = runner.run_once()
        unreachable = runner.database_unreachable
        runner.shutdown()
        deps.engine.dispose()
        click.echo(f"ran {ran} unit(s) of work")
        if unreachable is not None:
            # Work may be due but was never looked at: a cron job must not count this as done.
            click.echo(f"error: the database could not be reached: {unreachable}", err=True)
            sys.exit(1)
        return

    def stop(signum: int, _frame: Any) -> None:
        # SIGTERM (systemd, docker stop) ends like Ctrl-C: finish the work in hand, then exit.
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    runner.run_forever()
    deps.engine.dispose()


# -- database ---------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Migrate the database to ``revision``."""
    from alembic import command

    from config.migrate import alembic_config

    settings = _settings()
    command.upgrade(alembic_config(settings.database_url), revision)
    click.echo(f"database at {revision}")


# -- customers ----------------------------------------------------------------------------


@main.group()
def customers() -> None:
    """Customers and entitlements."""


@customers.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def customers_import(csv_file: Path) -> None:
    """Import customers from CSV (customer_number,company,product,support_level,email)."""
    from config.dependencies import SystemClock
    from db.engine import make_engine
    from db.transaction import make_session_factory, transaction
    from intake.customers import ImportError_, import_customers_csv

    settings = _settings()
    catalog = _catalog(settings)
    factory = make_session_factory(make_engine(settings.database_url))
    try:
        with transaction(factory) as session:
            result = import_customers_csv(
                session,
                csv_file.read_text(encoding="utf-8-sig"),
                catalog=catalog,
                now=SystemClock().now(),
            )
    except ImportError_ as exc:
        click.echo(f"{csv_file}: nothing imported:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    click.echo(f"imported {result.customers} customer(s), {result.entitlements} entitlement(s)")


main.add_command(user)
main.add_command(queue)
main.add_command(answer)
main.add_command(roster)


# -- the terminal phone -----------------------------------------------------------------------


@main.command()
@click.argument("number")
@click.option("--from", "from_", default=None, help="Caller ID, E.164 (default: a demo mobile).")
@click.option("--url", default=None, help="Base URL of the running server.")
def call(number: str, from_: str | None, url: str | None) -> None:
    """Phone a running hotline from the terminal, exactly as Twilio would."""
    from ivr.call_walker import CallWalker, WalkerError
    from ivr.walker_transport import requests_transport

    settings = _settings()
    base = (url or settings.public_base_url or "http://127.0.0.1:8000").rstrip("/")
    caller = from_ or ("+4915112345678" if number.startswith("+49") else "+12025550143")
    walker = CallWalker(
        transport=requests_transport(),
        base_url=base,
        auth_token=settings.webhook_auth_token,
        to=number,
        from_=caller,
    )
    click.echo(f"calling {number} from {caller} via {base} (Ctrl-D hangs up)")
    try:
        _show(walker.dial())
        while not walker.ended and (walker.listening is not None or walker.holding is not None):
            holding = walker.holding
            if holding is not None:
                # A hold round (the escalation hold): wait out its pause as the caller would.
                click.echo(f"  [on hold for {holding.seconds} s; Ctrl-C hangs up]")
                try:
                    _wait_on_hold(holding.seconds)
                except KeyboardInterrupt:
                    walker.hang_up()
                    click.echo("\n[you hung up]")
                    break
                _show(walker.hold())
                continue
            listening = walker.listening
            assert listening is not None
            if "speech" in listening.inputs:
                prompt = "say (Enter = silence)"
            elif listening.in_queue:
                prompt = "on hold: key (Enter = keep waiting)"
            else:
                prompt = "keys (Enter = silence)"
            try:
                line = click.prompt(prompt, default="", show_default=False)
            except click.Abort:
                walker.hang_up()
                click.echo("\n[you hung up]")
                break
            line = line.strip()
            if not line:
                _show(walker.silence())
            elif "speech" in listening.inputs:
                _show(walker.say(line))
            else:
                _show(walker.press(line))
    except WalkerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"error: cannot reach {base}: {exc}", err=True)
        sys.exit(1)
    if walker.ended:
        click.echo("[call ended]")


def _wait_on_hold(seconds: float) -> None:
    """The caller's silence on hold, in real time (the terminal phone's only wait)."""
    time.sleep(seconds)


def _show(lines: list[str]) -> None:
    for line in lines:
        click.echo(f"  < {line}")
