"""``hotline queue``: the callback queue in the terminal, time left coloured, optionally live."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import click

from config.cli_support import settings_or_exit

if TYPE_CHECKING:
    from callbacks.queries import CallbackView

# Under this much time left a callback shows yellow: about when the managers are warned.
AT_RISK = timedelta(minutes=10)
COLUMNS = ("ID", "SR", "STATUS", "LEFT", "HELD BY", "TRIES", "COMPANY", "NAME")


def time_left_text(left: timedelta) -> str:
    """``12m left``, ``1h05m left``, ``3m over``: minutes are what an agent plans with."""
    minutes = int(abs(left).total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        amount = f"{days}d{hours:02d}h"
    elif hours:
        amount = f"{hours}h{minutes:02d}m"
    else:
        amount = f"{minutes}m"
    return f"{amount} over" if left < timedelta(0) else f"{amount} left"


def time_left_colour(left: timedelta) -> str:
    """Red once the promise is broken, yellow when it is close, green otherwise."""
    if left < timedelta(0):
        return "red"
    if left <= AT_RISK:
        return "yellow"
    return "green"


def queue_lines(rows: Sequence[CallbackView], *, colour: bool = True) -> list[str]:
    """The queue as aligned text lines, header first."""
    table = [
        (
            str(r.id),
            r.sr_number,
            r.status,
            time_left_text(r.time_left),
            r.claimed_by or "-",
            str(r.attempts),
            _short(r.company),
            _short(r.contact_name),
        )
        for r in rows
    ]
    widths = [max([len(h)] + [len(row[i]) for row in table]) for i, h in enumerate(COLUMNS)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths, strict=True)).rstrip()]
    for row, view in zip(table, rows, strict=True):
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=True)]
        if colour:
            cells[3] = click.style(cells[3], fg=time_left_colour(view.time_left))
        lines.append("  ".join(cells).rstrip())
    return lines


def _short(text: str | None, width: int = 24) -> str:
    if not text:
        return "-"
    return text if len(text) <= width else text[: width - 1] + "…"


@click.command("queue")
@click.option("--region", default=None, help="Only this region's callbacks (e.g. de).")
@click.option(
    "--status",
    default=None,
    help="Only callbacks in this status (default: the open ones: queued, claimed, calling).",
)
@click.option("--watch", is_flag=True, help="Refresh every --every seconds until Ctrl-C.")
@click.option("--every", default=5.0, show_default=True, type=float)
def queue(region: str | None, status: str | None, watch: bool, every: float) -> None:
    """Print the callback queue: earliest promise first, with the time left to each."""
    from callbacks.models import CallbackStatus
    from callbacks.queries import list_callbacks
    from config.clock import SystemClock
    from db.engine import make_engine
    from db.transaction import make_session_factory, read_transaction

    if status is not None and status not in {s.value for s in CallbackStatus}:
        allowed = ", ".join(s.value for s in CallbackStatus)
        raise click.BadParameter(f"{status!r} is not one of {allowed}", param_hint="--status")
    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    clock = SystemClock()
    try:
        while True:
            now = clock.now()
            with read_transaction(factory) as session:
                rows = list_callbacks(session, now=now, status=status, region=region)
            if watch:
                click.clear()
                click.echo(f"callback queue at {now:%Y-%m-%d %H:%M:%S} UTC (Ctrl-C stops)")
            for line in queue_lines(rows):
                click.echo(line)  # click drops the colours when not on a terminal
            if not rows:
                click.echo("(no callbacks)")
            if not watch:
                return
            time.sleep(every)
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()
