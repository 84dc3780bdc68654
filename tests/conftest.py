"""Shared fixtures: a fresh database per test (SQLite, or PostgreSQL when asked), app, clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

import callbacks.models  # noqa: F401  (register tables)
import escalations.conference_records
import escalations.records
import escalations.roster_records  # noqa: F401
import intake.models  # noqa: F401
from config.app import create_app
from config.catalog import load_catalog
from config.dependencies import Dependencies
from config.settings import DEFAULT_CONFIG, LOCAL_AUTH_TOKEN, Settings
from config.wiring import build_dependencies
from db.base import Base
from db.engine import make_engine
from db.transaction import SessionFactory, make_session_factory, transaction
from intake.catalog import Catalog, PromptSet
from intake.customers import import_customers_csv
from ivr.call_walker import CallWalker
from tests.support.fakes import FakeClock, FakeDialer, FakeMailer, FakeMessenger

POSTGRES_URL = os.environ.get("HOTLINE_TEST_POSTGRES_URL")
BASE_URL = "http://hotline.test"
DEMO_CSV = Path(DEFAULT_CONFIG).parent / "demo" / "customers.csv"
# Wednesday 25 Nov 2026, 10:00 UTC = 11:00 in Germany, 05:00 in New York.
WEDNESDAY_MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def pytest_report_header() -> str:
    return f"hotline database: {'PostgreSQL ' + POSTGRES_URL if POSTGRES_URL else 'SQLite'}"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(DEFAULT_CONFIG)


@pytest.fixture
def de(catalog: Catalog) -> PromptSet:
    """The German prompts: what a caller to +498001006711 hears."""
    return catalog.prompts_for("de-DE")


@pytest.fixture
def en(catalog: Catalog) -> PromptSet:
    """The US English prompts."""
    return catalog.prompts_for("en-US")


@pytest.fixture(scope="session")
def _postgres_engine() -> Iterator[Engine | None]:
    if not POSTGRES_URL:
        yield None
        return
    engine = make_engine(POSTGRES_URL)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path, _postgres_engine: Engine | None) -> Iterator[str]:
    """A fresh, empty database for one test."""
    if _postgres_engine is None:
        url = f"sqlite:///{tmp_path / 'hotline.db'}"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    assert POSTGRES_URL is not None
    yield POSTGRES_URL
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with _postgres_engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def is_postgres() -> bool:
    return POSTGRES_URL is not None


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> SessionFactory:
    return make_session_factory(engine)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(WEDNESDAY_MORNING)


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Tests are local mode: webhooks signed with the local token, clients on loopback.
    return Settings.from_env(
        {"HOTLINE_DATABASE_URL": database_url, "HOTLINE_LOCAL_MODE": "1"}, cwd=Path.cwd()
    )


@pytest.fixture
def messenger(clock: FakeClock) -> FakeMessenger:
    return FakeMessenger(clock)


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()


@pytest.fixture
def deps(
    settings: Settings,
    catalog: Catalog,
    clock: FakeClock,
    messenger: FakeMessenger,
    mailer: FakeMailer,
) -> Iterator[Dependencies]:
    deps = build_dependencies(
        settings,
        catalog=catalog,
        clock=clock,
        messenger=messenger,
        dialer=FakeDialer(),
        mailer=mailer,
        public_base_url=BASE_URL,
    )
    yield deps
    deps.engine.dispose()


@pytest.fixture
def demo_customers(deps: Dependencies, catalog: Catalog, clock: FakeClock) -> None:
    with transaction(deps.session_factory) as session:
        import_customers_csv(session, DEMO_CSV.read_text(), catalog=catalog, now=clock.now())


@pytest.fixture
def app(settings: Settings, deps: Dependencies) -> Flask:
    app = create_app(settings, deps)
    app.testing = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def phone(client: FlaskClient):  # type: ignore[no-untyped-def]
    """Start a simulated call: ``phone(to, from_)`` returns a dialled CallWalker."""

    def transport(url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = client.post(url, data=form, headers=headers)
        return response.status_code, response.get_data(as_text=True)

    def start(to: str = "+498001006711", from_: str = "+4915112345678") -> CallWalker:
        return CallWalker(
            transport=transport, base_url=BASE_URL, auth_token=LOCAL_AUTH_TOKEN, to=to, from_=from_
        )

    return start
