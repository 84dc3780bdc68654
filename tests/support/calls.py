"""Helpers for walking whole calls in tests."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select

from config.dependencies import Dependencies
from db.transaction import transaction
from intake.models import Call
from ivr.call_walker import CallWalker

T = TypeVar("T")

GERMAN_LINE = "+498001006711"
US_LINE = "+18005550199"
GERMAN_MOBILE = "+4915112345678"


def wait_in_queue(walker: CallWalker) -> list[str]:
    """Stay on hold without pressing anything until the queue lets the caller go."""
    heard: list[str] = []
    while walker.listening is not None and walker.listening.in_queue:
        heard += walker.silence()
    return heard


def read_rows(deps: Dependencies, model: type[T]) -> list[T]:
    """All rows of a table in insertion order, read in a fresh transaction."""
    key = {Call: Call.call_sid}.get(model, getattr(model, "id", None))  # type: ignore[call-overload]
    with transaction(deps.session_factory) as session:
        return list(session.scalars(select(model).order_by(key)))


def read_one(deps: Dependencies, model: type[T]) -> T:
    """The single row of a table (fails when there are none or several)."""
    found = read_rows(deps, model)
    assert len(found) == 1, f"{len(found)} {model.__name__} rows"
    return found[0]
