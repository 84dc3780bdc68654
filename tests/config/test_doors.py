"""No way of serving starts without Twilio's token and public URL, except explicit local mode,
and local mode answers this machine only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from twilio.request_validator import RequestValidator

from config import cli
from config.app import create_app
from config.settings import LOCAL_AUTH_TOKEN, Settings, SettingsError
from tests.support.regions import config_with_sms_senders

SID = "AC" + "0123456789abcdef" * 2
PUBLIC = "https://hotline.example.com"


def _wsgi(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))}
    clean["HOTLINE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'h.db'}"
    return subprocess.run(
        [sys.executable, "-c", "import config.wsgi; print('app', config.wsgi.app.name)"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_wsgi_entry_refuses_to_start_without_the_token_and_public_url(tmp_path):
    done = _wsgi({}, tmp_path)

    assert done.returncode == 1
    assert "error: TWILIO_AUTH_TOKEN" in done.stderr
    assert "error: HOTLINE_PUBLIC_BASE_URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_wsgi_entry_starts_with_the_token_and_public_url(tmp_path):
    env = {
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": "t0k3n",
        "HOTLINE_PUBLIC_BASE_URL": PUBLIC,
        "HOTLINE_CONFIG": str(config_with_sms_senders(tmp_path)),
    }
    done = _wsgi(env, tmp_path)

    assert done.returncode == 0, done.stderr
    assert "app hotline" in done.stdout


def test_the_wsgi_entry_starts_in_local_mode_only_when_asked(tmp_path):
    done = _wsgi({"HOTLINE_LOCAL_MODE": "1"}, tmp_path)

    assert done.returncode == 0, done.stderr


def test_an_app_outside_local_mode_needs_the_token_and_public_url(database_url):
    settings = Settings.from_env({"HOTLINE_DATABASE_URL": database_url})

    with pytest.raises(SettingsError) as caught:
        create_app(settings)

    assert [p.split(":")[0] for p in caught.value.problems[:2]] == [
        "TWILIO_AUTH_TOKEN",
        "HOTLINE_PUBLIC_BASE_URL",
    ]


def test_a_production_app_refuses_webhooks_signed_with_the_local_token(
    database_url, catalog, tmp_path
):
    settings = Settings.from_env(
        {
            "HOTLINE_DATABASE_URL": database_url,
            "HOTLINE_CONFIG": str(config_with_sms_senders(tmp_path)),
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": "real-token",
            "HOTLINE_PUBLIC_BASE_URL": PUBLIC,
        }
    )
    app = create_app(settings)
    form = {"CallSid": "CA1", "From": "+4915112345678", "To": "+498001006711"}
    url = f"{PUBLIC}/ivr/voice"
    forged = RequestValidator(LOCAL_AUTH_TOKEN).compute_signature(url, form)
    genuine = RequestValidator("real-token").compute_signature(url, form)

    client = app.test_client()
    forged_response = client.post("/ivr/voice", data=form, headers={"X-Twilio-Signature": forged})
    genuine_response = client.post("/ivr/voice", data=form, headers={"X-Twilio-Signature": genuine})

    assert forged_response.status_code == 403
    assert genuine_response.status_code == 200
    app.extensions["hotline"].engine.dispose()


def test_local_mode_answers_loopback_clients_only(client):
    outside = client.get("/healthz", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    inside = client.get("/healthz", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    inside_v6 = client.get("/healthz", environ_base={"REMOTE_ADDR": "::1"})

    assert outside.status_code == 403
    assert inside.status_code != 403
    assert inside_v6.status_code != 403


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ([], {}, "error: TWILIO_AUTH_TOKEN"),
        (["--with-worker", "--host", "0.0.0.0"], {}, "binds loopback only"),
        (["--host", "192.0.2.1"], {"HOTLINE_LOCAL_MODE": "1"}, "binds loopback only"),
    ],
)
def test_hotline_serve_refuses_production_without_twilio_and_local_mode_off_loopback(
    database_url, args, env, message
):
    result = CliRunner().invoke(cli.serve, args, env={"HOTLINE_DATABASE_URL": database_url, **env})

    assert result.exit_code == 1
    assert message in result.output


def test_hotline_worker_refuses_to_send_through_log_only_senders_outside_local_mode(
    database_url,
):
    result = CliRunner().invoke(cli.worker, ["--once"], env={"HOTLINE_DATABASE_URL": database_url})

    assert result.exit_code == 1
    assert "error: TWILIO_AUTH_TOKEN" in result.output


def test_a_local_mode_setting_that_is_neither_on_nor_off_is_named(tmp_path):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"HOTLINE_LOCAL_MODE": "maybe"}, cwd=tmp_path)

    assert caught.value.problems == ["HOTLINE_LOCAL_MODE: 'maybe' is neither 1 nor 0"]
