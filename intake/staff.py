"""Staff members, their roles and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.models import Role, User


class DuplicateUser(Exception):
    """A user with that name already exists."""


@dataclass(frozen=True)
class StaffMember:
    """A staff member as other layers see them."""

    id: int
    name: str
    role: Role
    phone: str | None
    email: str | None


def _token_hash(token: str) -> str:
    # API tokens are 256-bit random values, so a fast hash is enough to keep them unreadable at
    # rest and lets us find the user by hash in one indexed look-up (argon2 is for passwords).
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(
    session: Session,
    *,
    name: str,
    role: Role,
    now: datetime,
    phone: str | None = None,
    email: str | None = None,
) -> tuple[StaffMember, str]:
    """Create a user and return it with its API token (shown once, stored only as a hash)."""
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise DuplicateUser(name)
    token = "hl_" + secrets.token_urlsafe(32)
    user = User(
        name=name,
        role=role.value,
        phone=phone,
        email=email,
        token_hash=_token_hash(token),
        created_at=now,
    )
    session.add(user)
    session.flush()
    return _view(user), token


def user_for_token(session: Session, token: str) -> StaffMember | None:
    """The active user holding ``token``, or None."""
    user = session.scalar(
        select(User).where(User.token_hash == _token_hash(token), User.is_active.is_(True))
    )
    return None if user is None else _view(user)


def _view(user: User) -> StaffMember:
    return StaffMember(
        id=user.id, name=user.name, role=Role(user.role), phone=user.phone, email=user.email
    )
