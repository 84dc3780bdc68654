"""What every ``hotline`` command shares: settings or a clean exit naming each problem."""

from __future__ import annotations

import sys

import click

from config.settings import Settings, SettingsError


def settings_or_exit() -> Settings:
    """The settings from the environment, or each problem printed and exit status 1."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        refuse(exc.problems)
        raise  # not reached: refuse exits


def refuse(problems: list[str]) -> None:
    """Print each problem and exit 1, or return when there are none."""
    if problems:
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(1)
