"""The worker tells staff of a re-escalation by e-mail, once each, in the region's language."""

from __future__ import annotations

from config.worker import Worker
from db.transaction import transaction
from escalations.history import SYSTEM
from escalations.records import EscalationReason
from escalations.services import re_escalate
from intake.catalog import Catalog
from tests.support.escalation_rows import accepted_escalation
from tests.support.fakes import FakeClock, FakeMailer
from tests.worker.conftest import MakeDeps


def test_a_re_escalation_e_mails_the_engineer_and_the_managers_once(
    make_deps: MakeDeps, catalog: Catalog, clock: FakeClock
) -> None:
    deps = make_deps()
    with transaction(deps.session_factory) as session:
        escalation = accepted_escalation(
            session, catalog=catalog, now=clock.now(), reason=EscalationReason.NOT_SATISFIED
        )
        sr = escalation.sr_number
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
