"""Bearer-token authentication and role checks for the JSON API."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Response, g, request

from config.dependencies import current
from console.problems import status_problem
from db.transaction import read_statement_connection
from intake.staff import Role, StaffMember, user_for_token

P = ParamSpec("P")
R = TypeVar("R")

# Where a view keeps the roles it admits (tests check that every API view states them).
ROLES_ATTRIBUTE = "allowed_roles"


def _unauthorized(reason: str) -> Response:
    response = status_problem(401, reason)
    response.headers["WWW-Authenticate"] = 'Bearer realm="hotline"'
    return response


def _forbidden(role: Role, allowed: frozenset[Role]) -> Response:
    names = ", ".join(sorted(r.value for r in allowed))
    return status_problem(
        403,
        f"role {role.value} may not; allowed: {names}",
        role=role.value,
        allowed_roles=sorted(r.value for r in allowed),
    )


def roles_allowed(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Answer 401 without a valid ``Authorization: Bearer`` token of an active user, 403 when
    the user's role is not one of ``roles``.

    The user and token are looked up on every request, never cached: a revoked token or a
    disabled user is refused from the next request on.
    """
    if not roles:
        raise ValueError("name the roles that may use the view")
    allowed = frozenset(roles)

    def decorate(view: Callable[P, R]) -> Callable[P, R | Response]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return _unauthorized("send Authorization: Bearer <token> (from `hotline user add`)")
            # One statement, on PostgreSQL one round trip (no BEGIN and COMMIT around it).
            with read_statement_connection(current().session_factory) as connection:
                user = user_for_token(connection, token.strip())
            if user is None:
                return _unauthorized("the token is not valid")
            if user.role not in allowed:
                return _forbidden(user.role, allowed)
            g.user = user
            return view(*args, **kwargs)

        setattr(wrapper, ROLES_ATTRIBUTE, allowed)
        return wrapper

    return decorate


def signed_in() -> StaffMember:
    """The staff member whose token opened this request (set by ``roles_allowed``)."""
    member = g.user
    assert isinstance(member, StaffMember)
    return member
