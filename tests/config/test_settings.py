"""Settings from the environment: local defaults, and one clear message per bad variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from config import cli
from config.catalog import load_catalog
from config.settings import (
    DEFAULT_CONFIG,
    LOCAL_AUTH_TOKEN,
    Settings,
    SettingsError,
    sending_problems,
)
from tests.support.regions import config_with_sms_senders

SID = "AC" + "0123456789abcdef" * 2


def problems_of(env: dict[str, str], cwd: Path) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env, cwd=cwd)
    return caught.value.problems


def test_no_variables_at_all_give_a_working_local_setup(tmp_path):
    settings = Settings.from_env({}, cwd=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'hotline.db'}"
    assert settings.config_path == DEFAULT_CONFIG
    assert settings.public_base_url is None
    assert not settings.has_twilio_credentials
    assert settings.webhook_auth_token == LOCAL_AUTH_TOKEN
    assert settings.smtp_url is None
    assert settings.secret_key is None


def test_blank_variables_count_as_unset(tmp_path):
    settings = Settings.from_env(
        {"HOTLINE_PUBLIC_BASE_URL": "  ", "TWILIO_AUTH_TOKEN": ""}, cwd=tmp_path
    )
    assert settings.public_base_url is None
    assert settings.twilio_auth_token is None


def test_a_full_production_environment_is_read(tmp_path):
    settings = Settings.from_env(
        {
            "HOTLINE_DATABASE_URL": "postgresql://hotline@db.internal/hotline",
            "HOTLINE_PUBLIC_BASE_URL": "https://hotline.example.com/",
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": "secret",
            "TWILIO_API_BASE_URL": "http://127.0.0.1:9000/",
            "HOTLINE_SMTP_URL": "smtp+starttls://user:pw@mail.example.com:587?from=h@example.com",
            "HOTLINE_SECRET_KEY": "k" * 32,
        },
        cwd=tmp_path,
    )
    assert settings.public_base_url == "https://hotline.example.com"
    assert settings.twilio_api_base_url == "http://127.0.0.1:9000"
    assert settings.has_twilio_credentials
    assert settings.webhook_auth_token == "secret"
    assert settings.production_problems() == []


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@h/db",
        "postgresql+psycopg://u@h/db",
        "postgres://u@h/db",
        "sqlite:////tmp/x.db",
    ],
)
def test_database_urls_in_plain_and_driver_forms_are_accepted(tmp_path, url):
    assert Settings.from_env({"HOTLINE_DATABASE_URL": url}, cwd=tmp_path).database_url == url


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "HOTLINE_DATABASE_URL",
            "mysql://u@h/db",
            "HOTLINE_DATABASE_URL: 'mysql' is not supported",
        ),
        ("HOTLINE_DATABASE_URL", "not a url", "HOTLINE_DATABASE_URL: not a database URL"),
        (
            "HOTLINE_CONFIG",
            "/nowhere/hotline.toml",
            "HOTLINE_CONFIG: /nowhere/hotline.toml does not exist",
        ),
        (
            "HOTLINE_PUBLIC_BASE_URL",
            "hotline.example.com",
            "HOTLINE_PUBLIC_BASE_URL: 'hotline.example.com' is not an http(s) URL",
        ),
        (
            "HOTLINE_PUBLIC_BASE_URL",
            "https://h.example/?x=1",
            "HOTLINE_PUBLIC_BASE_URL: must not have a query or fragment",
        ),
        (
            "TWILIO_API_BASE_URL",
            "http://mock:9000/2010-04-01",
            "TWILIO_API_BASE_URL: give only scheme, host and port (no path)",
        ),
        (
            "TWILIO_API_BASE_URL",
            "ftp://mock",
            "TWILIO_API_BASE_URL: 'ftp://mock' is not an http(s) URL",
        ),
        (
            "HOTLINE_SMTP_URL",
            "mail.example.com:25",
            "HOTLINE_SMTP_URL: SMTP URL must start with smtp://",
        ),
        ("HOTLINE_SMTP_URL", "smtp://mail:abc", "HOTLINE_SMTP_URL: SMTP URL has a bad port"),
        (
            "HOTLINE_SMTP_URL",
            "smtp://mail.example.com?From=x@example.com",
            "HOTLINE_SMTP_URL: SMTP URL has unknown parameters: From",
        ),
        ("HOTLINE_SMTP_URL", "smtps://:465", "HOTLINE_SMTP_URL: SMTP URL has no host"),
    ],
)
def test_each_bad_variable_is_named_in_its_own_message(tmp_path, name, value, message):
    [problem] = problems_of({name: value}, tmp_path)
    assert problem.startswith(message)


def test_a_malformed_account_sid_is_named(tmp_path):
    problems = problems_of({"TWILIO_ACCOUNT_SID": "SK123", "TWILIO_AUTH_TOKEN": "t"}, tmp_path)
    assert problems == ["TWILIO_ACCOUNT_SID: must be 34 characters starting with AC"]


@pytest.mark.parametrize("env", [{"TWILIO_ACCOUNT_SID": SID}, {"TWILIO_AUTH_TOKEN": "secret"}])
def test_twilio_credentials_come_in_pairs(tmp_path, env):
    assert problems_of(env, tmp_path) == [
        "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: set both or neither"
    ]


def test_every_problem_is_reported_at_once(tmp_path):
    problems = problems_of(
        {
            "HOTLINE_DATABASE_URL": "mysql://u@h/db",
            "HOTLINE_CONFIG": str(tmp_path / "missing.toml"),
            "HOTLINE_PUBLIC_BASE_URL": "nope",
            "TWILIO_ACCOUNT_SID": "nope",
            "TWILIO_API_BASE_URL": "nope",
            "HOTLINE_SMTP_URL": "nope",
        },
        tmp_path,
    )
    assert [p.split(":")[0] for p in problems] == [
        "HOTLINE_DATABASE_URL",
        "HOTLINE_CONFIG",
        "HOTLINE_PUBLIC_BASE_URL",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
        "TWILIO_API_BASE_URL",
        "HOTLINE_SMTP_URL",
    ]


def test_a_server_for_twilio_needs_the_auth_token_and_public_url(tmp_path):
    problems = Settings.from_env({}, cwd=tmp_path).production_problems()
    assert [p.split(":")[0] for p in problems] == ["TWILIO_AUTH_TOKEN", "HOTLINE_PUBLIC_BASE_URL"]


@pytest.mark.parametrize("url", ["smtp://mail:abc", "smtp://host?From=x"])
def test_a_malformed_smtp_url_is_one_line_naming_the_variable_not_a_traceback_later(tmp_path, url):
    [problem] = problems_of({"HOTLINE_SMTP_URL": url}, tmp_path)
    assert problem.startswith("HOTLINE_SMTP_URL: ")
    assert "\n" not in problem
    assert "use smtp://host:port" in problem


@pytest.mark.parametrize(
    "url",
    [
        "smtp://mail.example.com?from=hotline@example.com",
        "smtp+starttls://user:p%40ss@mail.example.com:587?from=hotline@example.com",
        "smtps://mail.example.com:465?from=hotline@example.com",
    ],
)
def test_well_formed_smtp_urls_are_accepted(tmp_path, url):
    assert Settings.from_env({"HOTLINE_SMTP_URL": url}, cwd=tmp_path).smtp_url == url


def test_an_unknown_log_level_falls_back_to_info_and_says_so(monkeypatch, caplog):
    import logging

    from config.logging import configure_logging

    configured = {}
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: configured.update(kwargs))
    monkeypatch.setenv("HOTLINE_LOG_LEVEL", "loud")
    with caplog.at_level(logging.WARNING, logger="hotline"):
        configure_logging()
    assert configured["level"] == logging.INFO
    assert "HOTLINE_LOG_LEVEL='LOUD'" in caplog.text


def test_printing_the_settings_shows_no_token_password_or_secret_key(tmp_path):
    settings = Settings.from_env(
        {
            "HOTLINE_DATABASE_URL": "postgresql://hotline:db-pass-1@db.internal/hotline",
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": "twilio-token-2",
            "HOTLINE_SMTP_URL": "smtp+starttls://user:smtp-pass-3@mail.example.com:587?from=h@x.example",
            "HOTLINE_SECRET_KEY": "flask-key-4",
        },
        cwd=tmp_path,
    )
    for shown in (repr(settings), str(settings), f"{settings}"):
        for secret in ("db-pass-1", "twilio-token-2", "smtp-pass-3", "flask-key-4"):
            assert secret not in shown
        assert "mail.example.com" in shown
        assert "twilio_auth_token='***'" in shown
    # The values themselves are still there for the code that needs them.
    assert settings.twilio_auth_token == "twilio-token-2"


def test_statement_errors_do_not_print_the_bound_values(tmp_path):
    from sqlalchemy import text
    from sqlalchemy.exc import StatementError

    from db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as connection, pytest.raises(StatementError) as caught:
            connection.execute(
                text("SELECT * FROM no_such_table WHERE a = :a"), {"a": "+4915112345678"}
            )
    finally:
        engine.dispose()
    assert "+4915112345678" not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)


def test_the_log_format_masks_numbers_and_addresses_in_tracebacks():
    import logging
    import sys

    from config.logging import MaskingFormatter

    try:
        raise ValueError("SMS to +4915112345678 for kundin@example.com refused")
    except ValueError:
        record = logging.LogRecord(
            "hotline", logging.ERROR, __file__, 1, "event=x", None, sys.exc_info()
        )
    line = MaskingFormatter("%(message)s").format(record)
    assert "+4915112345678" not in line
    assert "kundin@" not in line
    assert "ValueError: SMS to ***678 for ***@example.com refused" in line


def test_the_wired_dependencies_print_no_token_or_password(tmp_path):
    from config.wiring import build_dependencies

    settings = Settings.from_env(
        {
            "HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": "twilio-token-2",
            "HOTLINE_SMTP_URL": "smtp://user:smtp-pass-3@mail.example.com?from=h@x.example",
            "HOTLINE_PUBLIC_BASE_URL": "https://hotline.example.com",
            "HOTLINE_CONFIG": str(config_with_sms_senders(tmp_path)),
        },
        cwd=tmp_path,
    )
    deps = build_dependencies(settings)
    try:
        shown = repr(deps)
    finally:
        deps.engine.dispose()
    assert "twilio-token-2" not in shown
    assert "smtp-pass-3" not in shown


TWILIO = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "secret"}


def test_with_twilio_credentials_every_region_needs_an_sms_sender_named_in_one_message(tmp_path):
    config = config_with_sms_senders(tmp_path, {"de": "+4915112345678"})
    settings = Settings.from_env({**TWILIO, "HOTLINE_CONFIG": str(config)}, cwd=tmp_path)
    assert sending_problems(settings, load_catalog(config)) == [
        f"{config}: sms_from is required for region(s) us when TWILIO_ACCOUNT_SID is set: give"
        " each [[regions]] entry an SMS-capable number of the Twilio account (toll-free hotline"
        " numbers usually cannot send SMS, Twilio error 21606)"
    ]


def test_senders_for_every_region_or_no_twilio_at_all_need_nothing_more(tmp_path):
    config = config_with_sms_senders(tmp_path)
    with_twilio = Settings.from_env({**TWILIO, "HOTLINE_CONFIG": str(config)}, cwd=tmp_path)
    assert sending_problems(with_twilio, load_catalog(config)) == []
    local = Settings.from_env({}, cwd=tmp_path)
    assert sending_problems(local, load_catalog(DEFAULT_CONFIG)) == []


def test_hotline_worker_without_sms_senders_refuses_to_start_with_one_line(tmp_path):
    result = CliRunner().invoke(
        cli.worker,
        ["--once"],
        env={
            **TWILIO,
            "HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
            "HOTLINE_PUBLIC_BASE_URL": "https://hotline.example.com",
        },
    )
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith(f"error: {DEFAULT_CONFIG}: sms_from is required for region(s) de, us")


def test_database_timeouts_default_to_a_webhook_well_within_twilios_limit(tmp_path):
    timeouts = Settings.from_env({}, cwd=tmp_path).database_timeouts
    assert (timeouts.connect_seconds, timeouts.statement_seconds, timeouts.lock_seconds) == (
        2.0,
        3.0,
        2.0,
    )
    assert timeouts.longest_wait_seconds <= 10


def test_database_timeouts_are_read_in_seconds(tmp_path):
    settings = Settings.from_env(
        {
            "HOTLINE_DB_CONNECT_TIMEOUT": "2",
            "HOTLINE_DB_STATEMENT_TIMEOUT": "1.5",
            "HOTLINE_DB_LOCK_TIMEOUT": "0.5",
        },
        cwd=tmp_path,
    )
    timeouts = settings.database_timeouts
    assert (timeouts.connect_seconds, timeouts.statement_seconds, timeouts.lock_seconds) == (
        2.0,
        1.5,
        0.5,
    )


def test_database_timeouts_that_are_no_seconds_or_too_long_together_are_refused(tmp_path):
    assert problems_of({"HOTLINE_DB_LOCK_TIMEOUT": "soon"}, tmp_path) == [
        "HOTLINE_DB_LOCK_TIMEOUT: give seconds between 0 and 60 (e.g. 2 or 0.5), not 'soon'"
    ]
    (problem,) = problems_of({"HOTLINE_DB_STATEMENT_TIMEOUT": "8"}, tmp_path)
    assert problem.startswith("HOTLINE_DB_CONNECT_TIMEOUT and HOTLINE_DB_STATEMENT_TIMEOUT:")


def test_the_spool_lies_beside_the_sqlite_database_unless_set(tmp_path):
    beside = Settings.from_env({"HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path}/db/h.db"})
    assert beside.spool_dir == tmp_path / "db" / "spool"
    postgres = Settings.from_env({"HOTLINE_DATABASE_URL": "postgresql://h/db"}, cwd=tmp_path)
    assert postgres.spool_dir == tmp_path / "var" / "spool"
    chosen = Settings.from_env({"HOTLINE_SPOOL_DIR": "/srv/spool"}, cwd=tmp_path)
    assert chosen.spool_dir == Path("/srv/spool")
