"""API errors as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Response, json, request
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

PROBLEM_TYPE = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    """A problem+json response; ``extra`` members (``field``, ``holder``...) say more."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_TYPE)


def parsed_body(model: type[M]) -> M | Response:
    """The request's JSON body as ``model``, or a 422 problem naming the first bad field."""
    data = request.get_json(silent=True)
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        return problem(422, "Invalid request body", f"{field}: {first['msg']}", field=field)
