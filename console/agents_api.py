"""JSON API for agents themselves: their presence, and "take the next caller"."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from config.dependencies import current
from console.auth import roles_allowed
from db.transaction import transaction
from intake.live_callers import AgentNotReady, request_next_caller
from intake.staff import Presence, Role, StaffMember, set_presence

bp = Blueprint("agents_api", __name__, url_prefix="/api/v1/agents")

# The people who take live callers.
LIVE_CALLER_ROLES = (Role.AGENT, Role.MANAGER)


def _problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    """An RFC 9457 problem document."""
    response = jsonify(type="about:blank", title=title, status=status, detail=detail, **extra)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _presence_body(member: StaffMember) -> dict[str, Any]:
    return {"name": member.name, "presence": member.presence.value, "region": member.region}


@bp.put("/me/presence")
@roles_allowed(*LIVE_CALLER_ROLES)
def put_presence() -> Response:
    """Set whether I take live callers now: available, busy or away."""
    body = request.get_json(silent=True)
    allowed = [p.value for p in Presence]
    value = body.get("presence") if isinstance(body, dict) else None
    if value not in allowed:
        return _problem(
            422,
            "Invalid presence",
            f"presence must be one of {', '.join(allowed)}",
            field="presence",
        )
    deps = current()
    with transaction(deps.session_factory) as session:
        member = set_presence(
            session, user_id=g.user.id, presence=Presence(value), now=deps.clock.now()
        )
    return jsonify(_presence_body(member))


@bp.post("/me/next-caller")
@roles_allowed(*LIVE_CALLER_ROLES)
def post_next_caller() -> Response:
    """Ring my phone; when I answer and press 1, I am bridged to my region's longest-waiting
    caller (or hear that nobody waits)."""
    deps = current()
    try:
        with transaction(deps.session_factory) as session:
            call = request_next_caller(
                session, user_id=g.user.id, catalog=deps.catalog, now=deps.clock.now()
            )
    except AgentNotReady as exc:
        extra: dict[str, Any] = {}
        if exc.missing:
            extra["missing"] = list(exc.missing)
        if exc.presence is not None:
            extra["presence"] = exc.presence.value
        return _problem(409, "Not ready for a live caller", exc.detail, **extra)
    response = jsonify(
        outbound_call_id=call.outbound_call_id,
        to=call.to,
        from_number=call.from_,
        region=call.region,
    )
    response.status_code = 202
    return response
