"""The agent-first call on a real database: started by the holder, settled by what Twilio
reports about each leg, once; a call never placed gives the callback back to the queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from callbacks.calls import (
    AgentAnswered,
    AgentKey,
    AgentLegEnded,
    CustomerAnswered,
    DialEnded,
    LegReport,
    LegResult,
    NoAgentPhone,
    Reply,
    call_key,
    report_leg,
    settle_lost_calls,
    start_callback_call,
)
from callbacks.claims import CallbackConflict, claim_callback
from callbacks.lifecycle import Disposition
from callbacks.models import Callback, CallbackStatus
from callbacks.queries import callback_history
from config.dependencies import Dependencies
from db.transaction import transaction
from db.work import WorkItem
from intake.catalog import Catalog
from intake.models import OutboundCall, OutboundCallStatus, Role
from intake.outbound_calls import WORK_KIND, record_not_placed, record_uncertain
from intake.staff import StaffMember
from tests.support.callback_rows import AGENT_PHONE, queued_callback, staff
from tests.support.fakes import FakeClock
from tests.support.intake_rows import GERMAN_MOBILE

MANAGER_PHONE = "+4915199990009"


@pytest.fixture
def team(deps: Dependencies, clock: FakeClock) -> dict[str, StaffMember]:
    with transaction(deps.session_factory) as session:
        anna, _ = staff(session, "anna", now=clock.now())
        ben, _ = staff(session, "ben", now=clock.now(), phone="+4915199990002")
        nophone, _ = staff(session, "olaf", now=clock.now(), phone=None)
        mia, _ = staff(session, "mia", now=clock.now(), role=Role.MANAGER, phone=MANAGER_PHONE)
    return {"anna": anna, "ben": ben, "olaf": nophone, "mia": mia}


def claimed(deps: Dependencies, catalog: Catalog, clock: FakeClock, by: StaffMember) -> int:
    with transaction(deps.session_factory) as session:
        callback_id = queued_callback(session, catalog=catalog, now=clock.now())
        claim_callback(session, callback_id, by=by, now=clock.now(), catalog=catalog)
    return callback_id


def start(deps: Dependencies, catalog: Catalog, clock: FakeClock, callback_id: int, by) -> None:
    with transaction(deps.session_factory) as session:
        start_callback_call(session, callback_id, by=by, now=clock.now(), catalog=catalog)


def report(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, callback_id: int, seq: int, what
) -> LegResult:
    with transaction(deps.session_factory) as session:
        return report_leg(session, callback_id, seq, what, now=clock.now(), catalog=catalog)


def row(deps: Dependencies, callback_id: int) -> Callback:
    with transaction(deps.session_factory) as session:
        found = session.get(Callback, callback_id)
        assert found is not None
        session.expunge(found)
        return found


def actions(deps: Dependencies, callback_id: int) -> list[str]:
    with transaction(deps.session_factory) as session:
        return [e.action for e in callback_history(session, callback_id)]


def outbound(deps: Dependencies, key: str) -> OutboundCall:
    with transaction(deps.session_factory) as session:
        found = session.scalar(select(OutboundCall).where(OutboundCall.key == key))
        assert found is not None
        session.expunge(found)
        return found


# -- starting ----------------------------------------------------------------------------------


def test_the_holder_starts_the_call_and_the_agents_phone_is_requested_from_the_region_number(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    callback_id = claimed(deps, catalog, clock, team["anna"])
    clock.advance(minutes=1)
    start(deps, catalog, clock, callback_id, team["anna"])

    callback = row(deps, callback_id)
    assert (callback.status, callback.call_seq, callback.answered_by) == ("calling", 1, None)
    assert callback.first_call_at == clock.now()
    assert actions(deps, callback_id) == ["claim", "start_call"]
    call = outbound(deps, call_key(callback_id, 1))
    assert (call.to_number, call.from_number) == (AGENT_PHONE, "+498001006711")
    assert call.url == f"/ivr/agent/callback?callback={callback_id}&call=1"
    assert call.status_callback == f"/ivr/agent/callback/status?callback={callback_id}&call=1"
    assert call.timeout_seconds == catalog.staff_ring_seconds
    assert call.status == OutboundCallStatus.PENDING
    with transaction(deps.session_factory) as session:
        work = session.scalar(select(WorkItem).where(WorkItem.key == f"{WORK_KIND}:{call.id}"))
        assert work is not None


def test_only_the_holder_or_a_manager_starts_the_call(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    callback_id = claimed(deps, catalog, clock, team["anna"])
    with pytest.raises(CallbackConflict, match="held by anna"):
        start(deps, catalog, clock, callback_id, team["ben"])
    assert row(deps, callback_id).status == CallbackStatus.CLAIMED

    start(deps, catalog, clock, callback_id, team["mia"])
    # The manager asked for the call: the manager's phone rings.
    assert outbound(deps, call_key(callback_id, 1)).to_number == MANAGER_PHONE


def test_an_agent_without_a_phone_is_told_so_and_nothing_changes(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    callback_id = claimed(deps, catalog, clock, team["olaf"])
    with pytest.raises(NoAgentPhone, match="olaf has no phone number"):
        start(deps, catalog, clock, callback_id, team["olaf"])
    assert row(deps, callback_id).status == CallbackStatus.CLAIMED
    assert actions(deps, callback_id) == ["claim"]


def test_a_queued_callback_cannot_be_called_before_it_is_claimed(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    with transaction(deps.session_factory) as session:
        callback_id = queued_callback(session, catalog=catalog, now=clock.now())
    with pytest.raises(CallbackConflict, match="cannot start_call a callback that is queued"):
        start(deps, catalog, clock, callback_id, team["anna"])


# -- the legs ----------------------------------------------------------------------------------


def calling(deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict) -> int:
    callback_id = claimed(deps, catalog, clock, team["anna"])
    start(deps, catalog, clock, callback_id, team["anna"])
    return callback_id


def test_the_whisper_carries_the_summary_and_changes_nothing(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    callback_id = calling(deps, catalog, clock, team)
    callback = row(deps, callback_id)
    result = report(deps, catalog, clock, callback_id, 1, AgentAnswered(1))
    assert result.reply is Reply.WHISPER
    assert result.region == "de"
    assert result.summary is not None
    assert result.summary.sr_number == callback.sr_number
    assert (result.summary.contact_name, result.summary.company) == (
        "Erika Mustermann",
        "Muster Maschinenbau GmbH",
    )
    assert result.summary.description == "Server startet nicht"
    assert result.summary.time_left == callback.due_at - clock.now()
    assert actions(deps, callback_id) == ["claim", "start_call"]


def test_accepted_and_reached_leaves_the_claim_with_the_agent_to_record_the_disposition(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    callback_id = calling(deps, catalog, clock, team)
    accepted = report(deps, catalog, clock, callback_id, 1, AgentKey("1"))
    assert (accepted.reply, accepted.customer_number) == (Reply.DIAL_CUSTOMER, GERMAN_MOBILE)
    screened = report(deps, catalog, clock, callback_id, 1, CustomerAnswered("human"))
    assert screened.reply is Reply.BRIDGE
    clock.advance(minutes=7)
    reached = report(deps, catalog, clock, callback_id, 1, DialEnded("completed"))

    assert reached.reply is Reply.REACHED
    callback = row(deps, callback_id)
    assert (callback.status, callback.attempts, callback.answered_by) == ("claimed", 1, "human")
    assert callback.claimed_by_id == team["anna"].id
    assert callback.claim_expires_at == clock.now() + catalog.callback_claim_expiry
    assert actions(deps, callback_id)[-2:] == ["agent_accepted", "customer_reached"]


@pytest.mark.parametrize(
    ("screen", "dial_status", "disposition"),
    [
        (None, "busy", Disposition.BUSY),
        (None, "no-answer", Disposition.NO_ANSWER),
        ("machine_start", "completed", Disposition.ANSWERING_MACHINE),
    ],
)
def test_a_customer_not_reached_is_recorded_and_retried_later(
    deps: Dependencies,
    catalog: Catalog,
    clock: FakeClock,
    team: dict,
    screen: str | None,
    dial_status: str,
    disposition: Disposition,
) -> None:
    callback_id = calling(deps, catalog, clock, team)
    report(deps, catalog, clock, callback_id, 1, AgentKey("1"))
    if screen is not None:
        assert report(deps, catalog, clock, callback_id, 1, CustomerAnswered(screen)).reply is (
            Reply.HANG_UP_CUSTOMER
        )
    result = report(deps, catalog, clock, callback_id, 1, DialEnded(dial_status))

    assert (result.reply, result.disposition, result.status) == (
        Reply.NOT_REACHED,
        disposition,
        CallbackStatus.QUEUED,
    )
    callback = row(deps, callback_id)
    assert (callback.status, callback.attempts, callback.disposition) == (
        "queued",
        1,
        disposition.value,
    )
    assert callback.claimed_by_id is None
    line = catalog.product_line(callback.product_line)
    assert callback.not_before == clock.now() + line.callback_retry_interval


def test_the_last_attempt_not_reached_closes_the_callback_unreachable(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    callback_id = calling(deps, catalog, clock, team)
    allowed = catalog.product_line(row(deps, callback_id).product_line).callback_attempts
    for seq in range(1, allowed + 1):
        if seq > 1:
            clock.advance(minutes=15)
            with transaction(deps.session_factory) as session:
                claim_callback(
                    session, callback_id, by=team["anna"], now=clock.now(), catalog=catalog
                )
            start(deps, catalog, clock, callback_id, team["anna"])
        report(deps, catalog, clock, callback_id, seq, AgentKey("1"))
        result = report(deps, catalog, clock, callback_id, seq, DialEnded("busy"))
    assert result.status is CallbackStatus.UNREACHABLE
    callback = row(deps, callback_id)
    assert (callback.status, callback.attempts) == ("unreachable", allowed)
    assert callback.closed_at == clock.now()


@pytest.mark.parametrize(
    ("report_", "action"),
    [
        (AgentKey("2"), "agent_declined"),
        (AgentLegEnded("no-answer"), "agent_declined"),
        (AgentLegEnded("busy"), "agent_declined"),
        (AgentLegEnded("completed"), "agent_declined"),  # hung up during the whisper
    ],
)
def test_an_agent_who_declines_or_does_not_answer_gives_the_callback_back(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict, report_, action: str
) -> None:
    callback_id = calling(deps, catalog, clock, team)
    result = report(deps, catalog, clock, callback_id, 1, report_)
    assert result.reply is Reply.RELEASED
    callback = row(deps, callback_id)
    assert (callback.status, callback.claimed_by_id, callback.attempts) == ("queued", None, 0)
    assert callback.not_before is None  # back in its place, not held back like a retry
    assert actions(deps, callback_id)[-1] == action


def test_duplicated_and_late_reports_change_nothing(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    callback_id = calling(deps, catalog, clock, team)
    report(deps, catalog, clock, callback_id, 1, AgentKey("1"))
    report(deps, catalog, clock, callback_id, 1, CustomerAnswered("human"))
    # The agent's leg reports completed before the Dial's outcome arrives: nothing decided.
    early: LegReport = AgentLegEnded("completed")
    assert report(deps, catalog, clock, callback_id, 1, early).reply is Reply.GONE
    report(deps, catalog, clock, callback_id, 1, DialEnded("completed"))
    history = actions(deps, callback_id)

    for late in (DialEnded("completed"), AgentLegEnded("completed"), AgentKey("2")):
        assert report(deps, catalog, clock, callback_id, 1, late).reply is Reply.GONE
    assert actions(deps, callback_id) == history
    assert row(deps, callback_id).attempts == 1


def test_reports_about_an_older_call_change_nothing(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    callback_id = calling(deps, catalog, clock, team)
    report(deps, catalog, clock, callback_id, 1, AgentKey("2"))
    with transaction(deps.session_factory) as session:
        claim_callback(session, callback_id, by=team["ben"], now=clock.now(), catalog=catalog)
    start(deps, catalog, clock, callback_id, team["ben"])
    history = actions(deps, callback_id)

    for late in (AgentLegEnded("no-answer"), AgentKey("1"), DialEnded("busy")):
        assert report(deps, catalog, clock, callback_id, 1, late).reply is Reply.GONE
    assert report(deps, catalog, clock, callback_id, 1, CustomerAnswered("human")).reply is (
        Reply.BRIDGE
    )
    callback = row(deps, callback_id)
    assert (callback.status, callback.call_seq, callback.answered_by) == ("calling", 2, None)
    assert actions(deps, callback_id) == history


def test_an_unknown_callback_is_gone(deps: Dependencies, catalog: Catalog, clock: FakeClock):
    assert report(deps, catalog, clock, 999, 1, AgentAnswered(1)) == LegResult(Reply.GONE)


# -- the backstop ------------------------------------------------------------------------------


def test_a_call_never_placed_releases_its_callback_and_a_placed_one_does_not(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    failed, uncertain, placed = (calling(deps, catalog, clock, team) for _ in range(3))
    failed_call = outbound(deps, call_key(failed, 1)).id
    uncertain_call = outbound(deps, call_key(uncertain, 1)).id
    with transaction(deps.session_factory) as session:
        record_not_placed(
            session, failed_call, error="21211 invalid To", final=True, now=clock.now()
        )
        record_uncertain(session, uncertain_call, reason="timeout", now=clock.now())
    clock.advance(minutes=2)

    with transaction(deps.session_factory) as session:
        released = settle_lost_calls(session, now=clock.now())
    with transaction(deps.session_factory) as session:
        again = settle_lost_calls(session, now=clock.now())

    assert sorted(released) == sorted([failed, uncertain])
    assert again == []
    for callback_id in (failed, uncertain):
        callback = row(deps, callback_id)
        assert (callback.status, callback.claimed_by_id) == ("queued", None)
        assert actions(deps, callback_id)[-1] == "call_lost"
    assert row(deps, placed).status == CallbackStatus.CALLING


def test_a_lost_older_call_does_not_release_the_current_one(
    deps: Dependencies, catalog: Catalog, clock: FakeClock, team: dict
) -> None:
    callback_id = calling(deps, catalog, clock, team)
    report(deps, catalog, clock, callback_id, 1, AgentLegEnded("no-answer"))
    first_call = outbound(deps, call_key(callback_id, 1)).id
    with transaction(deps.session_factory) as session:
        record_not_placed(session, first_call, error="late failure", final=True, now=clock.now())
        claim_callback(session, callback_id, by=team["anna"], now=clock.now(), catalog=catalog)
    start(deps, catalog, clock, callback_id, team["anna"])
    clock.advance(timedelta(minutes=1))

    with transaction(deps.session_factory) as session:
        assert settle_lost_calls(session, now=clock.now()) == []
    assert row(deps, callback_id).status == CallbackStatus.CALLING
