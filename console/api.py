"""JSON API for agents' tools: service requests and the callback queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from callbacks.models import CallbackStatus
from callbacks.queries import list_callbacks
from config.dependencies import current
from console.auth import roles_allowed
from console.problems import status_problem
from db.transaction import read_transaction
from intake.service_requests import service_request_detail
from intake.staff import Role

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Who may read what (README, "API roles"). An SR holds the caller's name, number, address and
# words: the people who work on it. The callback queue: the people who call back. Admins run
# users and tokens (`hotline user ...`) and read no customer data through the API.
SR_READERS = (Role.AGENT, Role.ENGINEER, Role.MANAGER)
CALLBACK_QUEUE_READERS = (Role.AGENT, Role.MANAGER)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


@bp.get("/service-requests/<sr_number>")
@roles_allowed(*SR_READERS)
def get_service_request(sr_number: str) -> Response:
    """One SR with its messages and confirmations."""
    if not sr_number.isdigit():
        return status_problem(400, "an SR number has digits only", field="sr_number")
    with read_transaction(current().session_factory) as session:
        sr = service_request_detail(session, sr_number)
    if sr is None:
        return status_problem(404, f"no service request {sr_number}")
    body: dict[str, Any] = {
        "sr_number": sr.number,
        "region": sr.region,
        "language": sr.language,
        "customer_number": sr.customer_number,
        "identified": sr.is_identified,
        "company": sr.company,
        "contact_name": sr.contact_name,
        "callback_number": sr.callback_number,
        "email": sr.email,
        "product": sr.product,
        "product_line": sr.product_line,
        "sr_reference": sr.sr_reference,
        "description": sr.description,
        "recording_url": sr.recording_url,
        "answer_channel": sr.answer_channel,
        "status": sr.status,
        "created_at": _iso(sr.created_at),
        # Why the customer got no written confirmation; null once one is queued.
        "unconfirmed_reason": sr.unconfirmed_reason,
        "messages": [
            {
                "id": m.id,
                "kind": m.kind,
                "contact_name": m.contact_name,
                "company": m.company,
                "callback_number": m.callback_number,
                "sr_reference": m.sr_reference,
                "description": m.description,
                "recording_consent": m.recording_consent,
                "consent_prompt_version": m.consent_prompt_version,
                "recording_url": m.recording_url,
                "answer_channel": m.answer_channel,
                "complete": m.is_complete,
                "requested_at": _iso(m.requested_at),
                "created_at": _iso(m.created_at),
                "callback_due_at": _iso(m.callback_due_at),
            }
            for m in sr.messages
        ],
        "confirmations": [
            {
                "channel": c.channel,
                "address": c.address,
                "status": c.status,
                "provider_status": c.provider_status,
                "sent_at": _iso(c.sent_at),
                "delivered_at": _iso(c.delivered_at),
                "last_error": c.last_error,
            }
            for c in sr.confirmations
        ],
    }
    return jsonify(body)


@bp.get("/callbacks")
@roles_allowed(*CALLBACK_QUEUE_READERS)
def get_callbacks() -> Response:
    """The callback queue in order, optionally filtered by ``status``."""
    status = request.args.get("status")
    allowed = [s.value for s in CallbackStatus]
    if status is not None and status not in allowed:
        return status_problem(400, f"status must be one of {', '.join(allowed)}", field="status")
    with read_transaction(current().session_factory) as session:
        rows = list_callbacks(session, status=status, now=current().clock.now())
    return jsonify(
        callbacks=[
            {
                "id": c.id,
                "sr_number": c.sr_number,
                "status": c.status,
                "region": c.region,
                "language": c.language,
                "product_line": c.product_line,
                "callback_number": c.callback_number,
                "requested_at": _iso(c.requested_at),
                "due_at": _iso(c.due_at),
                "created_at": _iso(c.created_at),
            }
            for c in rows
        ]
    )
