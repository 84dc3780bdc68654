"""Agents taking live callers: "take the next caller" rings the agent, who presses 1 to be
bridged to the longest-waiting caller of their region (``intake.next_caller_flow``).

The agent's phone is rung by an outbound call (``intake.outbound_calls``) placed by the worker;
its webhooks (``ivr.live_callers``) decide from the database whether anyone waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from intake.call_store import CallStore
from intake.catalog import Catalog, Region
from intake.models import OutboundCall, Presence, User
from intake.next_caller_flow import NextCallerTurn, after_whisper, is_waiting_in_queue
from intake.outbound_calls import request_call

# Where Twilio asks what the agent's leg says; relative: the worker resolves it against the
# public base URL when it places the call.
NEXT_CALLER_PATH = "/ivr/agent/next-caller"


class AgentNotReady(Exception):
    """The agent cannot take a live caller now: ``missing`` names what their profile lacks
    (phone, region), ``presence`` is set when they are not available."""

    def __init__(
        self, detail: str, *, missing: tuple[str, ...] = (), presence: Presence | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.missing = missing
        self.presence = presence


@dataclass(frozen=True)
class NextCallerCall:
    """The call that rings the agent, as requested (the worker places it)."""

    outbound_call_id: int
    key: str
    to: str
    from_: str
    url: str
    region: str


def request_next_caller(
    session: Session, *, user_id: int, catalog: Catalog, now: datetime
) -> NextCallerCall:
    """Ring the agent's phone from their region's number, to take the next caller.

    Raises ``AgentNotReady`` without a phone or a (configured) region, or unless the agent is
    available. Every press rings once more: the key counts the agent's presses (their row is
    locked, so two presses at once get two numbers).
    """
    user = session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise LookupError(f"no user {user_id}")
    missing = tuple(name for name in ("phone", "region") if not getattr(user, name))
    if missing:
        raise AgentNotReady(
            f"your profile has no {' and no '.join(missing)}: an admin sets "
            f"{'them' if len(missing) > 1 else 'it'} with `hotline user update`",
            missing=missing,
        )
    region = _region(catalog, user.region)
    if region is None:
        raise AgentNotReady(
            f"your region {user.region!r} is not a configured region "
            f"(one of: {', '.join(r.key for r in catalog.regions)})",
            missing=("region",),
        )
    presence = Presence(user.presence)
    if presence is not Presence.AVAILABLE:
        raise AgentNotReady(
            f"your presence is {presence.value}: only available agents take the next caller",
            presence=presence,
        )
    prefix = f"next-caller:{user.id}:"
    presses = session.scalar(
        select(func.count()).select_from(OutboundCall).where(OutboundCall.key.like(f"{prefix}%"))
    )
    key = f"{prefix}{(presses or 0) + 1}"
    url = f"{NEXT_CALLER_PATH}?{urlencode({'agent': user.id, 'region': region.key})}"
    assert user.phone is not None  # checked above
    call_id = request_call(
        session,
        key=key,
        to=user.phone,
        from_=region.numbers[0],
        url=url,
        status_callback=None,
        timeout_seconds=catalog.staff_ring_seconds,
        now=now,
    )
    return NextCallerCall(call_id, key, user.phone, region.numbers[0], url, region.key)


def caller_waiting(reader: Connection, *, region: Region, now: datetime) -> bool:
    """Whether a caller of ``region`` waits in its agent queue now."""
    return any(
        is_waiting_in_queue(
            call.state,
            outcome=call.outcome,
            queued_since=call.last_activity_at,
            now=now,
            max_wait=region.agent_line.max_wait,
        )
        for call in CallStore(reader).open_calls(region.key)
    )


def answer_whisper(
    reader: Connection, *, region: Region, digits: str | None, attempt: int, now: datetime
) -> NextCallerTurn:
    """The agent's answer to the whisper: bridge, nobody waiting, whisper again, or give up."""
    waiting = caller_waiting(reader, region=region, now=now)
    return after_whisper(digits=digits, attempt=attempt, caller_waiting=waiting)


def _region(catalog: Catalog, key: str | None) -> Region | None:
    for region in catalog.regions:
        if region.key == key:
            return region
    return None
