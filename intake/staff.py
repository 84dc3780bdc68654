"""Staff members, their roles and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from db.base import table_of
from intake.models import ApiToken, Presence, Role, User

# Role is re-exported: the edges name roles without importing the tables (import-linter).
__all__ = [
    "DuplicateUser",
    "Presence",
    "Role",
    "StaffMember",
    "TokenInfo",
    "UnknownToken",
    "UnknownUser",
    "add_user",
    "find_member",
    "issue_token",
    "list_tokens",
    "region_staff",
    "revoke_all_tokens",
    "revoke_token",
    "set_active",
    "set_presence",
    "set_work_details",
    "staff_by_ids",
    "staff_member",
    "user_for_token",
]


class DuplicateUser(Exception):
    """A user with that name already exists."""


class UnknownUser(Exception):
    """No user has that name."""


class UnknownToken(Exception):
    """The user has no token with that id."""


# The longest display name stored (``users.display_name``).
DISPLAY_NAME_MAX = 200


@dataclass(frozen=True)
class StaffMember:
    """A staff member as other layers see them."""

    id: int
    name: str
    role: Role
    phone: str | None
    email: str | None
    is_active: bool = True
    # The region whose queue an agent works (their callers, callbacks and caller ID).
    region: str | None = None
    presence: Presence = Presence.AWAY
    display_name: str | None = None

    @property
    def spoken_name(self) -> str:
        """The name callers hear and customers read: the display name, else the user name."""
        return self.display_name or self.name


@dataclass(frozen=True)
class TokenInfo:
    """One API token as listed: never the token, only its id and last characters."""

    id: int
    user: str
    hint: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def is_revoked(self) -> bool:
        """Whether the token no longer opens the API."""
        return self.revoked_at is not None


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
    region: str | None = None,
    display_name: str | None = None,
) -> tuple[StaffMember, str]:
    """Create a user and return it with its API token (shown once, stored only as a hash)."""
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise DuplicateUser(name)
    user = User(
        name=name,
        display_name=display_name,
        role=role.value,
        phone=phone,
        email=email,
        region=region,
        presence=Presence.AWAY.value,
        created_at=now,
    )
    session.add(user)
    session.flush()
    _, token = _issue(session, user, now=now)
    return _view(user), token


def issue_token(session: Session, *, name: str, now: datetime) -> tuple[TokenInfo, str]:
    """A further token for ``name`` (to replace one before revoking it); shown once."""
    return _issue(session, _user(session, name), now=now)


def _issue(session: Session, user: User, *, now: datetime) -> tuple[TokenInfo, str]:
    token = "hl_" + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=_token_hash(token), hint=token[-4:], created_at=now)
    session.add(row)
    session.flush()
    return _token_view(row, user.name), token


def list_tokens(session: Session, *, name: str) -> list[TokenInfo]:
    """Every token ``name`` was given, oldest first, revoked ones included."""
    user = _user(session, name)
    rows = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
    )
    return [_token_view(row, user.name) for row in rows]


def revoke_token(session: Session, *, name: str, token_id: int, now: datetime) -> TokenInfo:
    """Make one of ``name``'s tokens stop working from the next request on (idempotent)."""
    user = _user(session, name)
    row = session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    )
    if row is None:
        raise UnknownToken(f"{name} has no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
    return _token_view(row, user.name)


def revoke_all_tokens(session: Session, *, name: str, now: datetime) -> int:
    """Revoke every token of ``name`` still valid; returns how many."""
    user = _user(session, name)
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def set_active(session: Session, *, name: str, active: bool) -> StaffMember:
    """Disable or re-enable ``name``; a disabled user's tokens fail from the next request on
    (every request looks the user up, nothing is cached)."""
    user = _user(session, name)
    user.is_active = active
    return _view(user)


def set_work_details(
    session: Session, *, name: str, phone: str | None = None, region: str | None = None
) -> StaffMember:
    """Give ``name`` a phone and a region (each left as it is when None)."""
    user = _user(session, name)
    if phone is not None:
        user.phone = phone
    if region is not None:
        user.region = region
    return _view(user)


def set_presence(
    session: Session, *, user_id: int, presence: Presence, now: datetime
) -> StaffMember:
    """Record whether the user takes live callers now."""
    user = session.get(User, user_id)
    if user is None:
        raise UnknownUser(str(user_id))
    user.presence = presence.value
    user.presence_at = now
    return _view(user)


def find_member(session: Session, name: str) -> StaffMember:
    """The staff member named ``name``; raises ``UnknownUser``."""
    return _view(_user(session, name))


def staff_by_ids(session: Session, ids: set[int]) -> dict[int, StaffMember]:
    """The staff members with these ids."""
    if not ids:
        return {}
    return {u.id: _view(u) for u in session.scalars(select(User).where(User.id.in_(ids)))}


def region_staff(session: Session, *, region: str, role: Role) -> list[StaffMember]:
    """The active staff of ``role`` who work ``region``."""
    rows = session.scalars(
        select(User)
        .where(User.region == region, User.role == role.value, User.is_active.is_(True))
        .order_by(User.id)
    )
    return [_view(u) for u in rows]


def user_for_token(connection: Connection | Session, token: str) -> StaffMember | None:
    """The active user holding ``token`` (not revoked), or None."""
    row = connection.execute(_USER_FOR_TOKEN, {"token_hash": _token_hash(token)}).first()
    if row is None:
        return None
    user_id, name, role, phone, email, region, presence, display_name = row
    return StaffMember(
        id=user_id,
        name=name,
        role=Role(role),
        phone=phone,
        email=email,
        region=region,
        presence=Presence(presence),
        display_name=display_name,
    )


# Built once, and plain columns: it runs on every API request, where building the statement
# and loading an ORM instance cost more than running it.
_USERS = table_of(User)
_TOKENS = table_of(ApiToken)
_USER_FOR_TOKEN = (
    select(
        _USERS.c.id,
        _USERS.c.name,
        _USERS.c.role,
        _USERS.c.phone,
        _USERS.c.email,
        _USERS.c.region,
        _USERS.c.presence,
        _USERS.c.display_name,
    )
    .join(_TOKENS, _TOKENS.c.user_id == _USERS.c.id)
    .where(
        _TOKENS.c.token_hash == bindparam("token_hash"),
        _TOKENS.c.revoked_at.is_(None),
        _USERS.c.is_active.is_(True),
    )
)


def staff_member(session: Session, *, name: str) -> StaffMember:
    """The staff member called ``name``; raises ``UnknownUser``."""
    return _view(_user(session, name))


def _user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise UnknownUser(name)
    return user


def _view(user: User) -> StaffMember:
    return StaffMember(
        id=user.id,
        name=user.name,
        role=Role(user.role),
        phone=user.phone,
        email=user.email,
        is_active=user.is_active,
        region=user.region,
        presence=Presence(user.presence),
        display_name=user.display_name,
    )


def _token_view(row: ApiToken, user: str) -> TokenInfo:
    return TokenInfo(
        id=row.id, user=user, hint=row.hint, created_at=row.created_at, revoked_at=row.revoked_at
    )
