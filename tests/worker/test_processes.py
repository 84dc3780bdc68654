"""Real `hotline worker` processes: killed mid-send, side by side, cut off from the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from callbacks import jobs as callbacks_jobs
from db.base import Base
from db.engine import make_engine
from db.transaction import SessionFactory, make_session_factory, transaction
from db.work import WorkItem, enqueue
from db.work_health import last_heartbeat
from intake import confirmations
from intake.catalog import Catalog
from intake.models import Confirmation, Message, Role
from tests.support.callback_rows import queued_callback, staff
from tests.support.intake_rows import confirmation, submit_request, work_for
from tests.support.mock_twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, MockTwilio
from tests.support.regions import config_with_sms_senders
from tests.support.smtp import SmtpSink

pytestmark = pytest.mark.slow

HOTLINE = str(Path(sys.executable).with_name("hotline"))
Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def real_twilio_clock_mock() -> Iterator[MockTwilio]:
    with MockTwilio() as mock:
        yield mock


@pytest.fixture
def spawn(database_url: str, real_twilio_clock_mock: MockTwilio, tmp_path: Path) -> Iterator[Spawn]:
    """Start ``hotline worker`` processes; every one is killed before the database is reset."""
    started: list[subprocess.Popen[bytes]] = []
    # With Twilio credentials every region must name its SMS sender, or the worker won't start.
    config = config_with_sms_senders(tmp_path / "config")

    def start(
        *args: str, database: str | None = None, env_extra: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "HOTLINE_DATABASE_URL": database or database_url,
            "HOTLINE_PUBLIC_BASE_URL": "http://hotline.test",
            "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
            "TWILIO_API_BASE_URL": real_twilio_clock_mock.base_url,
            "HOTLINE_LOG_LEVEL": "INFO",
            "HOTLINE_CONFIG": str(config),
            **(env_extra or {}),
        }
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [HOTLINE, "worker", *args], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        process.log_path = tmp_path / f"worker-{len(started)}.log"  # type: ignore[attr-defined]
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def log_of(process: subprocess.Popen[bytes]) -> str:
    path: Path = process.log_path  # type: ignore[attr-defined]
    return path.read_text(errors="replace")


def wait_until(condition: Callable[[], bool], *, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def test_a_worker_killed_mid_send_leaves_exactly_one_sms_once_its_lease_expires(
    session_factory: SessionFactory,
    catalog: Catalog,
    real_twilio_clock_mock: MockTwilio,
    spawn: Spawn,
) -> None:
    from config.dependencies import SystemClock

    mock = real_twilio_clock_mock
    with transaction(session_factory) as session:
        sr_number = submit_request(session, catalog=catalog, now=SystemClock().now())
    mock.hold_next("messages")

    first = spawn("--lease-seconds", "1")
    wait_until(lambda: len(mock.messages) == 1, what="the first worker is mid-send")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    with transaction(session_factory) as session:
        sending = confirmation(session, sr_number)
        assert sending.status == "sending"
        assert work_for(session, sending.key).state == "running"

    second = spawn("--lease-seconds", "1")

    def settled() -> bool:
        with transaction(session_factory) as session:
            row = confirmation(session, sr_number)
            return row.status == "sent" and work_for(session, row.key).state == "done"

    wait_until(settled, what=f"the second worker settles the SMS\n{log_of(second)}")
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=15) != -signal.SIGKILL
    mock.release_held()

    [sms] = mock.messages
    with transaction(session_factory) as session:
        row = confirmation(session, sr_number)
        work = work_for(session, row.key)
        assert row.provider_id == sms.sid, log_of(second) + str(mock.requests)
        assert work.attempts == 2
    assert any(r.method == "GET" for r in mock.requests)
    assert "event=confirmation_reconciled" in log_of(second)
    assert "event=worker_stopped" in log_of(second)


def test_two_worker_processes_on_postgresql_send_each_of_thousands_of_confirmations_once(
    session_factory: SessionFactory,
    real_twilio_clock_mock: MockTwilio,
    spawn: Spawn,
    is_postgres: bool,
) -> None:
    if not is_postgres:
        pytest.skip(
            "several worker processes scale out on PostgreSQL; set HOTLINE_TEST_POSTGRES_URL"
            " (make test runs the suite there too)"
        )
    from config.dependencies import SystemClock

    rows = 3000
    now = SystemClock().now()
    with transaction(session_factory) as session:
        message_ids = session.scalars(
            insert(Message).returning(Message.id),
            [
                {
                    "kind": "new",
                    "region": "de",
                    "language": "de-DE",
                    "product_line": "datacenter",
                    "callback_number": f"+4915100{n:06d}",
                    "answer_channel": "phone",
                    "requested_at": now,
                    "created_at": now,
                    "updated_at": now,
                    "is_complete": True,
                    "sr_number": f"{90_000_000 + n}",
                }
                for n in range(rows)
            ],
        ).all()
        confirmation_ids = session.scalars(
            insert(Confirmation).returning(Confirmation.id),
            [
                {
                    "key": f"confirmation:{90_000_000 + n}:{message_id}:sms",
                    "sr_number": f"{90_000_000 + n}",
                    "message_id": message_id,
                    "channel": "sms",
                    "address": f"+4915100{n:06d}",
                    "language": "de-DE",
                    "status": "queued",
                    "created_at": now,
                }
                for n, message_id in enumerate(message_ids)
            ],
        ).all()
        session.execute(
            insert(WorkItem),
            [
                {
                    "kind": confirmations.WORK_KIND,
                    "key": f"work:{confirmation_id}",
                    "payload": {"confirmation_id": confirmation_id},
                    "state": "due",
                    "priority": confirmations.WORK_PRIORITY,
                    "due_at": now - timedelta(milliseconds=n),
                    "attempts": 0,
                    "max_attempts": confirmations.MAX_ATTEMPTS,
                    "created_at": now,
                    "updated_at": now,
                }
                for n, confirmation_id in enumerate(confirmation_ids)
            ],
        )

    workers = [spawn("--once", "--concurrency", "8", "--batch", "50") for _ in range(2)]
    for worker in workers:
        assert worker.wait(timeout=180) == 0, log_of(worker)

    per_number = Counter(m.to for m in real_twilio_clock_mock.messages)
    assert len(per_number) == rows
    assert set(per_number.values()) == {1}
    with transaction(session_factory) as session:
        states = dict(
            session.execute(
                select(WorkItem.state, func.count())
                .where(WorkItem.kind == confirmations.WORK_KIND)
                .group_by(WorkItem.state)
            ).all()
        )
        sent = session.scalar(
            select(func.count()).select_from(Confirmation).where(Confirmation.status == "sent")
        )
        by_worker = session.execute(
            select(WorkItem.claimed_by, func.count())
            .where(WorkItem.kind == confirmations.WORK_KIND)
            .group_by(WorkItem.claimed_by)
        ).all()
    assert states == {"done": rows}
    assert sent == rows
    # Both took a share; neither waited for the other's locks.
    assert len(by_worker) == 2, by_worker
    ran = [int(log_of(w).rsplit("ran ", 1)[1].split()[0]) for w in workers]
    assert sum(ran) >= rows


def test_two_worker_processes_on_postgresql_tell_each_manager_of_each_warning_and_breach_once(
    session_factory: SessionFactory,
    catalog: Catalog,
    real_twilio_clock_mock: MockTwilio,
    spawn: Spawn,
    is_postgres: bool,
    smtp_sink: SmtpSink,
) -> None:
    if not is_postgres:
        pytest.skip("several worker processes scale out on PostgreSQL")
    from config.dependencies import SystemClock

    now = SystemClock().now()
    managers = {"mia": "+4915199990002", "max": "+4915199990003"}
    with transaction(session_factory) as session:
        for name, phone in managers.items():
            staff(
                session,
                name,
                now=now,
                role=Role.MANAGER,
                phone=phone,
                email=f"{name}@example.com",
            )
        # 24x7 promises: called 25 minutes ago (at risk, due in 5), 40 minutes ago (breached).
        for minutes_ago in [25] * 20 + [40] * 20:
            queued_callback(session, catalog=catalog, now=now - timedelta(minutes=minutes_ago))
        # Several watch periods' rows due at once: both processes watch at the same time.
        for period in range(6):
            enqueue(
                session,
                kind=callbacks_jobs.WATCH_KIND,
                key=f"{callbacks_jobs.WATCH_KIND}:test-{period}",
                due_at=now,
                now=now,
                priority=50,
                max_attempts=1,
            )

    smtp = {"HOTLINE_SMTP_URL": smtp_sink.url}
    workers = [
        spawn("--once", "--concurrency", "4", "--batch", "5", env_extra=smtp) for _ in range(2)
    ]
    for worker in workers:
        assert worker.wait(timeout=180) == 0, log_of(worker)

    texts = Counter(
        (m.to, m.body) for m in real_twilio_clock_mock.messages if m.to in managers.values()
    )
    mails = Counter(
        (m["To"], m["Subject"]) for m in smtp_sink.messages if m["Subject"].startswith("Rückruf")
    )
    # 40 callbacks, each warned of or breached, told to 2 managers by SMS and by e-mail.
    assert len(texts) == len(mails) == 40 * 2, log_of(workers[0]) + log_of(workers[1])
    assert set(texts.values()) == set(mails.values()) == {1}
    assert sum("Rückrufversprechen gebrochen" in body for _, body in texts) == 20 * 2


def test_a_worker_process_without_its_database_keeps_retrying_and_says_so(
    spawn: Spawn, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-dir" / "hotline.db"
    worker = spawn(database=f"sqlite:///{missing}")

    wait_until(
        lambda: "event=database_still_unreachable" in log_of(worker),
        what="the worker reports the database down more than once",
    )
    assert worker.poll() is None, log_of(worker)
    assert "event=database_unreachable" in log_of(worker)

    # The database appears: the same process carries on.
    missing.parent.mkdir()
    engine = make_engine(f"sqlite:///{missing}")
    Base.metadata.create_all(engine)
    engine.dispose()
    wait_until(
        lambda: "event=database_reachable_again" in log_of(worker),
        what="the worker notices the database is back",
    )
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=15)
    engine = make_engine(f"sqlite:///{missing}")
    with transaction(make_session_factory(engine)) as session:
        assert last_heartbeat(session) is not None  # it ticked against the new database
    engine.dispose()


def _worker_once(database: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))}
    env["HOTLINE_DATABASE_URL"] = database
    env["HOTLINE_LOCAL_MODE"] = "1"  # no Twilio here: log-only senders
    return subprocess.run(
        [HOTLINE, "worker", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_worker_once_exits_1_naming_the_database_when_it_cannot_reach_it(tmp_path: Path) -> None:
    done = _worker_once(f"sqlite:///{tmp_path / 'missing-dir' / 'hotline.db'}")

    assert done.returncode == 1
    assert "error: the database could not be reached" in done.stderr


def test_worker_once_exits_0_when_the_database_answers(database_url: str) -> None:
    done = _worker_once(database_url)

    assert done.returncode == 0, done.stderr
    assert "unit(s) of work" in done.stdout
