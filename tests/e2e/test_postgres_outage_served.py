"""A real ``hotline serve --with-worker`` on PostgreSQL behind a proxy the test switches: the
caller's number survives the outage on the host's spool and the in-process worker makes it an
SR once the database answers again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.engine import make_url

from config.settings import LOCAL_AUTH_TOKEN
from db.transaction import transaction
from intake.models import Call, ServiceRequest
from ivr.call_walker import CallWalker
from ivr.walker_transport import requests_transport
from tests.conftest import POSTGRES_URL
from tests.support.calls import GERMAN_LINE, GERMAN_MOBILE
from tests.support.tcp_proxy import Mode, TcpProxy

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None, reason="needs PostgreSQL: set HOTLINE_TEST_POSTGRES_URL"
)

WEBHOOK_LIMIT_SECONDS = 10.0
HOTLINE = Path(sys.executable).with_name("hotline")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.1)  # polling a real process, which runs on the real clock


@pytest.fixture
def proxy():
    assert POSTGRES_URL is not None
    url = make_url(POSTGRES_URL)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    yield proxy
    proxy.close()


@pytest.fixture
def server(proxy, deps, tmp_path):
    """``hotline serve --with-worker`` whose database is reached through ``proxy``."""
    assert POSTGRES_URL is not None
    port = free_port()
    url = make_url(POSTGRES_URL).set(host="127.0.0.1", port=proxy.port)
    env = {
        **os.environ,
        "HOTLINE_DATABASE_URL": url.render_as_string(hide_password=False),
        "HOTLINE_SPOOL_DIR": str(tmp_path / "spool"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "HOTLINE_PUBLIC_BASE_URL"):
        env.pop(name, None)
    (tmp_path / "metrics").mkdir()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [str(HOTLINE), "serve", "--with-worker", "--workers", "1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            return requests.get(f"{base_url}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_until(healthy, seconds=30, what="hotline serve answers /healthz")
        yield base_url, tmp_path / "spool", tmp_path / "serve.log"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_a_served_call_keeps_its_number_through_a_black_hole_and_the_worker_makes_the_sr(
    server, proxy, deps, demo_customers, catalog
):
    base_url, spool_dir, log_path = server
    de = catalog.prompts_for("de-DE")
    seconds: list[float] = []
    send = requests_transport(timeout=15)

    def timed(url, form, headers):
        started = time.monotonic()
        try:
            status, body = send(url, form, headers)
        finally:
            seconds.append(time.monotonic() - started)
        if "/ivr/status" in url:
            return 204, ""  # a 500 here is Twilio's debugger's business, not the caller's
        return status, body

    walker = CallWalker(
        transport=timed,
        base_url=base_url,
        auth_token=LOCAL_AUTH_TOKEN,
        to=GERMAN_LINE,
        from_=GERMAN_MOBILE,
    )
    walker.dial()
    walker.press("1")

    proxy.set_mode(Mode.BLACK_HOLE)
    assert walker.press("4711002#")[-1] == de.text("error_fallback")
    assert walker.press("030123456#") == [de.text("fallback_thanks")]
    assert max(seconds) < WEBHOOK_LIMIT_SECONDS, seconds
    assert any(spool_dir.glob("*.jsonl"))
    health = requests.get(f"{base_url}/healthz", timeout=15)
    assert (health.status_code, health.json()) == (
        503,
        {"status": "error", "database": "unreachable"},
    )

    proxy.set_mode(Mode.PASS)

    def settled() -> bool:
        with transaction(deps.session_factory) as session:
            return session.scalar(select(Call.sr_number).where(Call.call_sid == walker.call_sid))

    wait_until(settled, seconds=30, what="the worker replays the spool into an SR")
    with transaction(deps.session_factory) as session:
        numbers = list(session.scalars(select(ServiceRequest.callback_number)))
    assert numbers == ["+4930123456"]
    assert "event=spooled_number_replayed" in log_path.read_text()
