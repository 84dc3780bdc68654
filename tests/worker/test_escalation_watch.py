"""Promised updates are reminded of and flagged once each, and the daily report goes out once a
day per manager, with two workers and after a restart that missed the time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from config.worker import Worker
from db.transaction import transaction
from escalations.history import Actor
from escalations.plans import CommunicationKind, set_communication_plan
from intake.catalog import Catalog
from tests.support.escalation_rows import accepted_escalation
from tests.support.fakes import FakeClock, FakeMailer
from tests.worker.conftest import MakeDeps

# 05:00 in Berlin: three hours before the daily report at 08:00 local time.
EARLY = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)


def _accepted_escalation(deps, catalog: Catalog, clock: FakeClock) -> int:
    with transaction(deps.session_factory) as session:
        escalation = accepted_escalation(session, catalog=catalog, now=clock.now())
        set_communication_plan(
            session,
            escalation.id,
            kind=CommunicationKind.EMAIL,
            every=timedelta(hours=2),
            participants=["Erika Mustermann"],
            by=Actor.of(escalation.owner),
            now=clock.now(),
        )
        return escalation.id


def _run(*workers: Worker) -> None:
    for _ in range(3):
        for worker in workers:
            while worker.run_once():
                pass


def _subjects(mailer: FakeMailer, part: str) -> list[tuple[str, str]]:
    return [(m.to, m.subject) for m in mailer.sent if part in m.subject]


def test_an_update_is_reminded_of_then_flagged_missed_once_each_with_two_workers(
    make_deps: MakeDeps, catalog: Catalog, clock: FakeClock
) -> None:
    clock.set(EARLY)
    mailer = FakeMailer()
    deps = make_deps(mailer=mailer)
    _accepted_escalation(deps, catalog, clock)
    first, second = Worker(deps, worker_id="w1"), Worker(deps, worker_id="w2")

    clock.advance(minutes=89)  # 31 minutes before the update is due
    _run(first, second)
    assert _subjects(mailer, "fällig") == []
    clock.advance(minutes=2)
    _run(first, second)
    clock.advance(minutes=10)
    _run(first, second)
    assert _subjects(mailer, "fällig") == [("eva@example.com", _subjects(mailer, "fällig")[0][1])]
    assert "um 2026-12-03 07:00 CET" in _subjects(mailer, "fällig")[0][1]
    assert _subjects(mailer, "versäumt") == []

    clock.advance(minutes=20)  # the update's time passed unrecorded
    _run(first, second)
    clock.advance(minutes=5)
    _run(first, second)
    first.shutdown()
    second.shutdown()
    assert [to for to, _ in _subjects(mailer, "versäumt")] == ["mia@example.com"]
    assert len(_subjects(mailer, "fällig")) == 1


def test_the_daily_report_goes_once_a_day_and_a_late_start_still_sends_it(
    make_deps: MakeDeps, catalog: Catalog, clock: FakeClock
) -> None:
    clock.set(EARLY)
    mailer = FakeMailer()
    deps = make_deps(mailer=mailer)
    escalation_id = _accepted_escalation(deps, catalog, clock)
    first, second = Worker(deps, worker_id="w1"), Worker(deps, worker_id="w2")
    _run(first, second)
    assert _subjects(mailer, "Eskalationen de") == []

    # Nobody ran at 08:00: the first look after it sends that day's report, once.
    clock.set(datetime(2026, 12, 3, 9, 30, tzinfo=UTC))
    _run(first, second)
    clock.advance(minutes=30)
    _run(first, second)
    [(to, subject)] = _subjects(mailer, "Eskalationen de")
    assert (to, subject) == ("mia@example.com", "Eskalationen de, 2026-12-03: 1 offen")
    [report] = [m for m in mailer.sent if m.subject == subject]
    assert f"#{escalation_id} SR " in report.body
    assert "Duty Manager mia | Engineer eva" in report.body

    clock.set(datetime(2026, 12, 4, 7, 1, tzinfo=UTC))  # 08:01 in Berlin the next day
    _run(first, second)
    first.shutdown()
    second.shutdown()
    assert [s for _, s in _subjects(mailer, "Eskalationen de")] == [
        "Eskalationen de, 2026-12-03: 1 offen",
        "Eskalationen de, 2026-12-04: 1 offen",
    ]
