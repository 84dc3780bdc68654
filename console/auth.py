"""Bearer-token authentication for the JSON API."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Response, g, jsonify, request

from config.dependencies import current
from db.transaction import read_transaction
from intake.staff import user_for_token

P = ParamSpec("P")
R = TypeVar("R")


def _unauthorized(reason: str) -> Response:
    response = jsonify(error="unauthorized", detail=reason)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="hotline"'
    return response


def token_required(view: Callable[P, R]) -> Callable[P, R | Response]:
    """Answer 401 unless the request carries a valid ``Authorization: Bearer`` token."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorized("send Authorization: Bearer <token> (from `hotline user add`)")
        with read_transaction(current().session_factory) as session:
            user = user_for_token(session, token.strip())
        if user is None:
            return _unauthorized("the token is not valid")
        g.user = user
        return view(*args, **kwargs)

    return wrapper
