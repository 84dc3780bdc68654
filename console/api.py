"""JSON API for agents' tools: service requests (the callback queue: ``console.callbacks_api``).

How to add a route (the OpenAPI document at /api/v1/openapi.json follows by itself):
1. Write its request and response models in console/api_models.py (pydantic; responses with
   an ``of(view)`` constructor from the service's frozen dataclass).
2. Stack ``@bp.<method>(rule)``, ``@roles_allowed(<roles>)``, ``@documented(response=...,
   path=/query=/body=..., problems=(404, 409, ...))`` on a view taking ``path``/``query``/``body``.
3. Return the response model, or ``problem(...)``/``status_problem(...)`` for an error.
4. Add it to ENDPOINTS in tests/console/test_api_roles.py; test_openapi.py checks the rest.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from config.dependencies import current
from console.api_models import (
    ServiceRequest,
    ServiceRequestPath,
)
from console.auth import roles_allowed
from console.openapi import API_PREFIX, documented
from console.problems import http_error_problem, status_problem
from db.transaction import read_transaction
from intake.service_requests import service_request_detail
from intake.staff import Role

bp = Blueprint("api", __name__, url_prefix=API_PREFIX)

# Who may read what (README, "API roles"). An SR holds the caller's name, number, address and
# words: the people who work on it. The callback queue: the people who call back. Admins run
# users and tokens (`hotline user ...`) and read no customer data through the API.
SR_READERS = (Role.AGENT, Role.ENGINEER, Role.MANAGER)


@bp.app_errorhandler(NotFound)
@bp.app_errorhandler(MethodNotAllowed)
def _routing_problem(error: HTTPException) -> ResponseReturnValue:
    """An unknown path or method under /api/v1 is a problem too; elsewhere Flask's own page."""
    if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
        return http_error_problem(error)
    return error.get_response()


@bp.get("/service-requests/<sr_number>")
@roles_allowed(*SR_READERS)
@documented(
    response=ServiceRequest, path=ServiceRequestPath, problems=(404,), tags=("service requests",)
)
def get_service_request(path: ServiceRequestPath) -> ServiceRequest | Response:
    """One SR with its messages and confirmations."""
    with read_transaction(current().session_factory) as session:
        sr = service_request_detail(session, path.sr_number)
    if sr is None:
        return status_problem(404, f"no service request {path.sr_number}")
    return ServiceRequest.of(sr)
