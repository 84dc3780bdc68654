"""The worker tells staff of a re-escalation by e-mail, once each, in the region's language."""

from __future__ import annotations

from config.worker import Worker
from db.transaction import transaction
from escalations.history import SYSTEM, Actor
from escalations.records import EscalationReason
from escalations.services import accept_escalation, assign_engineer, raise_escalation, re_escalate
from intake.catalog import Catalog
from intake.models import Role
from tests.support.callback_rows import staff
from tests.support.fakes import FakeClock, FakeMailer
from tests.support.intake_rows import submit_request
from tests.worker.conftest import MakeDeps


def test_a_re_escalation_e_mails_the_engineer_and_the_managers_once(
    make_deps: MakeDeps, catalog: Catalog, clock: FakeClock
) -> None:
    deps = make_deps()
    with transaction(deps.session_factory) as session:
        sr = submit_request(session, catalog=catalog, now=clock.now())
        mia, _ = staff(session, "mia", now=clock.now(), role=Role.MANAGER, email="mia@example.com")
        staff(session, "eva", now=clock.now(), role=Role.ENGINEER, email="eva@example.com")
        escalation, _ = raise_escalation(
            session,
            sr_number=sr,
            reason=EscalationReason.NOT_SATISFIED,
            by=SYSTEM,
            raised_by_kind="staff",
            now=clock.now(),
        )
        accept_escalation(session, escalation.id, by=mia, now=clock.now())
        assign_engineer(session, escalation.id, engineer="eva", by=Actor.of(mia), now=clock.now())
        re_escalate(
            session,
            escalation.id,
            reason="Keine Rückmeldung seit 2 Tagen",
            by=SYSTEM,
            now=clock.now(),
        )
    worker = Worker(deps)
    while worker.run_once():
        pass
    worker.shutdown()

    assert isinstance(deps.mailer, FakeMailer)
    [raised] = [m for m in deps.mailer.sent if m.subject == f"SR {sr} wurde eskaliert"]
    assert raised.to == "mia@example.com"
    notices = [m for m in deps.mailer.sent if "erneut eskaliert" in m.subject]
    assert sorted(m.to for m in notices) == ["eva@example.com", "mia@example.com"]
    assert all(f"SR {sr}" in m.subject and "Priorität 2" in m.subject for m in notices)
    assert all("Keine Rückmeldung seit 2 Tagen" in m.body for m in notices)
    assert len({m.message_id for m in notices}) == 2
