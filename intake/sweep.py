"""The sweep: calls that went quiet without a status callback are taken as ended and settled."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.unit_of_work import Done, Reading, Write, decide_locked
from intake.call_input import CallContext
from intake.call_store import CallStore
from intake.catalog import Catalog
from intake.models import Call
from intake.ports import CallbackScheduler, EscalationDesk
from intake.settlement import settle_ended_call


def calls_to_settle(session: Session, *, now: datetime, limit: int = 200) -> list[str]:
    """CallSids of calls gone quiet without a status callback that still owe a settlement."""
    return list(
        session.scalars(
            select(Call.call_sid)
            .where(Call.is_settled.is_(False), Call.settle_after < now)
            .order_by(Call.settle_after)
            .limit(limit)
        )
    )


def settle_quiet_call(
    session: Session,
    call_sid: str,
    *,
    catalog: Catalog,
    scheduler: CallbackScheduler,
    escalations: EscalationDesk,
    now: datetime,
) -> str | None:
    """Settle one call found by :func:`calls_to_settle`, re-checked under its row lock."""
    context = CallContext(catalog=catalog, scheduler=scheduler, escalations=escalations, now=now)

    def decide(reading: Reading) -> Done[str | None] | Write[str | None]:
        store = CallStore.reading(reading)
        stored = store.load(call_sid)
        if stored is None or stored.call.is_settled or stored.call.settle_after >= now:
            return Done(None)  # answered again meanwhile, or settled by its status callback
        call = stored.call

        def write(session: Session) -> str | None:
            settled = settle_ended_call(session, call, context=context)
            store.save(call, settled)
            return settled.sr_number

        return write

    return decide_locked(session, decide)
