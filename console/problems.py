"""Error answers of the JSON API as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

from flask import Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed

PROBLEM_MEDIA_TYPE = "application/problem+json"

# RFC 9457 section 4.2.1: "about:blank" says the problem is no more than its HTTP status, and
# then the title should be the status phrase. A problem that clients must tell apart (a claim
# conflict, say) passes its own ``problem_type`` URI and keeps details in extension members.
BLANK = "about:blank"


def problem(
    status: int, title: str, detail: str, *, problem_type: str = BLANK, **extra: object
) -> Response:
    """A problem+json response: type, title, status, detail, then the extension members
    (``field`` naming the bad input, ``holder`` or ``current_status`` for conflicts, ...)."""
    return _problem(status, problem_type, title, detail, extra)


def status_problem(status: int, detail: str, **extra: object) -> Response:
    """A problem titled with the status phrase (``400`` -> ``Bad Request``)."""
    return _problem(status, BLANK, HTTPStatus(status).phrase, detail, extra)


def _problem(
    status: int, problem_type: str, title: str, detail: str, extra: Mapping[str, object]
) -> Response:
    reserved = {"type", "title", "status", "detail"} & set(extra)
    if reserved:
        raise ValueError(f"extension members may not replace {', '.join(sorted(reserved))}")
    body = {"type": problem_type, "title": title, "status": status, "detail": detail, **extra}
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)


def http_error_problem(error: HTTPException) -> Response:
    """Werkzeug's routing errors (404, 405) as problems; a 405 keeps its ``Allow`` header."""
    status = error.code or 500
    detail = error.description or HTTPStatus(status).description
    response = status_problem(status, detail)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response
