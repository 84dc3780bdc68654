"""``hotline queue``: the callback queue in the terminal, in order, time left coloured."""

from __future__ import annotations

from datetime import timedelta

import click
import pytest
from click.testing import CliRunner

from callbacks.claims import claim_callback
from config.cli import main
from config.cli_queue import queue_lines, time_left_colour, time_left_text
from config.dependencies import Dependencies
from db.transaction import transaction
from intake.catalog import Catalog
from tests.support.callback_rows import queued_callback, staff
from tests.support.fakes import FakeClock


@pytest.fixture
def settings_env(database_url: str) -> dict[str, str]:
    return {"HOTLINE_DATABASE_URL": database_url}


@pytest.mark.parametrize(
    ("left", "text", "colour"),
    [
        (timedelta(minutes=25, seconds=30), "25m left", "green"),
        (timedelta(minutes=10), "10m left", "yellow"),
        (timedelta(seconds=59), "0m left", "yellow"),
        (timedelta(minutes=-3), "3m over", "red"),
        (timedelta(hours=1, minutes=5), "1h05m left", "green"),
        (timedelta(days=1, hours=2), "1d02h left", "green"),
    ],
)
def test_time_left_reads_in_minutes_and_is_coloured_by_urgency(
    left: timedelta, text: str, colour: str
) -> None:
    assert time_left_text(left) == text
    assert time_left_colour(left) == colour


def test_the_queue_prints_in_order_with_the_holder(
    deps: Dependencies,
    catalog: Catalog,
    clock: FakeClock,
) -> None:
    with transaction(deps.session_factory) as session:
        first = queued_callback(session, catalog=catalog, now=clock.now())
        second = queued_callback(session, catalog=catalog, now=clock.now() + timedelta(minutes=1))
        anna, _ = staff(session, "anna", now=clock.now())
        claim_callback(session, second, by=anna, now=clock.now(), catalog=catalog)
    from callbacks.queries import list_callbacks

    with transaction(deps.session_factory) as session:
        rows = list_callbacks(session, now=clock.now() + timedelta(minutes=25))
    lines = queue_lines(rows)
    assert lines[0].split()[:4] == ["ID", "SR", "STATUS", "LEFT"]
    assert [line.split()[0] for line in lines[1:]] == [str(first), str(second)]
    assert "anna" in click.unstyle(lines[2])
    assert "\x1b[33m" in lines[1]  # yellow: 5 minutes left
    assert "5m left" in click.unstyle(lines[1])


def test_the_command_reads_the_configured_database(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, settings_env: dict[str, str]
) -> None:
    with transaction(deps.session_factory) as session:
        queued_callback(session, catalog=catalog, now=clock.now())
    result = CliRunner().invoke(main, ["queue", "--region", "de"], env=settings_env)
    assert result.exit_code == 0, result.output
    assert "STATUS" in result.output
    assert "queued" in result.output
    assert "\x1b[" not in result.output  # no colour codes when not on a terminal
    other = CliRunner().invoke(main, ["queue", "--region", "us"], env=settings_env)
    assert "(no callbacks)" in other.output


def test_an_unknown_status_is_named(settings_env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["queue", "--status", "lost"], env=settings_env)
    assert result.exit_code == 2
    assert "'lost' is not one of queued" in result.output
