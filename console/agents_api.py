"""JSON API for agents themselves: their presence, and "take the next caller"."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from config.dependencies import current
from console.auth import roles_allowed, signed_in
from console.openapi import API_PREFIX, documented
from console.problems import problem
from db.transaction import transaction
from intake.live_callers import AgentNotReady, request_next_caller
from intake.staff import Presence, Role, set_presence

bp = Blueprint("agents_api", __name__, url_prefix=f"{API_PREFIX}/agents")

# The people who take live callers.
LIVE_CALLER_ROLES = (Role.AGENT, Role.MANAGER)
TAGS = ("agents",)


class PresenceBody(BaseModel):
    """Whether I take live callers now."""

    model_config = ConfigDict(extra="forbid")

    presence: Presence


class AgentPresence(BaseModel):
    """An agent's presence and the region whose callers they take."""

    name: str
    presence: Presence
    region: str | None


class NextCallerCall(BaseModel):
    """The call placed to my phone (by the worker, within a second or so)."""

    outbound_call_id: int
    to: str = Field(description="my phone")
    from_number: str = Field(description="the region's number, shown as caller ID")
    region: str


@bp.put("/me/presence")
@roles_allowed(*LIVE_CALLER_ROLES)
@documented(response=AgentPresence, body=PresenceBody, tags=TAGS)
def put_presence(body: PresenceBody) -> AgentPresence:
    """Set whether I take live callers now: available, busy or away."""
    deps = current()
    with transaction(deps.session_factory) as session:
        member = set_presence(
            session, user_id=signed_in().id, presence=body.presence, now=deps.clock.now()
        )
    return AgentPresence(name=member.name, presence=member.presence, region=member.region)


@bp.post("/me/next-caller")
@roles_allowed(*LIVE_CALLER_ROLES)
@documented(response=NextCallerCall, status=202, problems=(409,), tags=TAGS)
def post_next_caller() -> NextCallerCall | Response:
    """Ring my phone; when I answer and press 1, I am bridged to my region's longest-waiting
    caller (or hear that nobody waits). 409 names what is missing (phone, region) or my
    presence when I am not available."""
    deps = current()
    try:
        with transaction(deps.session_factory) as session:
            call = request_next_caller(
                session, user_id=signed_in().id, catalog=deps.catalog, now=deps.clock.now()
            )
    except AgentNotReady as exc:
        extra: dict[str, Any] = {}
        if exc.missing:
            extra["missing"] = list(exc.missing)
        if exc.presence is not None:
            extra["presence"] = exc.presence.value
        return problem(409, "Not ready for a live caller", exc.detail, **extra)
    return NextCallerCall(
        outbound_call_id=call.outbound_call_id,
        to=call.to,
        from_number=call.from_,
        region=call.region,
    )
