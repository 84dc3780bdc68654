"""``hotline user ...``: staff members (one by one or from a file), their API tokens, revoking
and disabling."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.orm import Session

from config.cli_support import settings_or_exit as _settings
from config.settings import Settings


@click.group()
def user() -> None:
    """Staff members."""


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["agent", "engineer", "manager", "admin"]))
@click.option("--phone", help="E.164, e.g. +4969123456")
@click.option("--email")
@click.option("--region", help="The region whose callers and callbacks they work, e.g. de")
@click.option(
    "--display-name",
    help='How callers hear and customers read the name, e.g. "Anna Becker" (default: NAME)',
)
def user_add(
    name: str,
    role: str,
    phone: str | None,
    email: str | None,
    region: str | None,
    display_name: str | None,
) -> None:
    """Add a staff member and print their API token (shown only once)."""
    from config.dependencies import SystemClock
    from intake.models import Role
    from intake.staff import DuplicateUser, add_user

    settings = _settings()
    if phone is not None:
        _check_phone(phone)
    if email is not None:
        from intake.email_addresses import InvalidEmailAddress, normalized_email

        try:
            email = normalized_email(email)
        except InvalidEmailAddress as exc:
            click.echo(f"error: --email {exc}", err=True)
            sys.exit(1)
    if region is not None:
        _check_region(settings, region)
    try:
        with _staff_session(settings) as session:
            member, token = add_user(
                session,
                name=name,
                role=Role(role),
                phone=phone,
                email=email,
                region=region,
                display_name=_display_name(display_name),
                now=SystemClock().now(),
            )
    except DuplicateUser:
        click.echo(f"error: a user named {name!r} already exists", err=True)
        sys.exit(1)
    where = f", region {member.region}" if member.region else ""
    click.echo(f"added {member.name} ({member.role.value}{where})")
    click.echo(f"API token (shown once, keep it safe): {token}")


def _display_name(value: str | None) -> str | None:
    """``value`` trimmed; exit 1 naming the option when it is too long for the column."""
    from intake.staff import DISPLAY_NAME_MAX

    if value is None or not value.strip():
        return None
    if len(value.strip()) > DISPLAY_NAME_MAX:
        click.echo(f"error: --display-name is longer than {DISPLAY_NAME_MAX} characters", err=True)
        sys.exit(1)
    return value.strip()


def _check_phone(phone: str) -> None:
    """Exit 1 naming the option unless ``phone`` is an E.164 number."""
    from intake.phone_numbers import normalize_e164

    if not phone.startswith("+") or normalize_e164(phone, country="US") is None:
        click.echo(f"error: --phone {phone!r} is not a valid E.164 number", err=True)
        sys.exit(1)


def _check_region(settings: Settings, region: str) -> None:
    """Exit 1 naming the option unless ``region`` is a region of the configured catalog."""
    from config.catalog import CatalogError, load_catalog
    from config.cli_support import refuse

    try:
        catalog = load_catalog(settings.config_path)
    except CatalogError as exc:
        refuse(exc.problems)
        return
    keys = [r.key for r in catalog.regions]
    if region not in keys:
        refuse(
            [
                f"--region {region!r} is not a region of {settings.config_path}"
                f" (one of: {', '.join(keys)})"
            ]
        )


@user.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def user_import(csv_file: Path) -> None:
    """Add the staff members of CSV_FILE (name,role,phone,email,region[,display_name]) not
    there yet.

    A name already taken is left as it is, so importing the same file twice changes nothing.
    No tokens are printed: ``hotline user new-token NAME`` issues one.
    """
    from config.dependencies import SystemClock
    from intake.models import Role
    from intake.staff import DuplicateUser, add_user

    rows = _staff_rows(csv_file)
    now = SystemClock().now()
    added = 0
    with _staff_session() as session:
        for row in rows:
            try:  # refused before anything is written: the transaction goes on
                add_user(
                    session,
                    name=row["name"],
                    role=Role(row["role"]),
                    phone=row["phone"] or None,
                    email=row["email"] or None,
                    region=row["region"] or None,
                    display_name=row["display_name"] or None,
                    now=now,
                )
                added += 1
            except DuplicateUser:
                pass
    click.echo(f"added {added} staff member(s), {len(rows) - added} already there")


def _staff_rows(csv_file: Path) -> list[dict[str, str]]:
    """The file's rows, checked; every problem names the line, the field and the value."""
    import csv

    from intake.email_addresses import InvalidEmailAddress, normalized_email
    from intake.phone_numbers import normalize_e164
    from intake.staff import DISPLAY_NAME_MAX

    columns = ["name", "role", "phone", "email", "region"]
    optional = ["display_name"]
    roles = ["agent", "engineer", "manager", "admin"]
    problems: list[str] = []
    rows: list[dict[str, str]] = []
    with csv_file.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames not in (columns, columns + optional):
            _staff_error(
                ValueError(
                    f"{csv_file}: the header must be {','.join(columns)}"
                    f" (and, optionally, {','.join(optional)})"
                )
            )
        for line, raw in enumerate(reader, start=2):
            row = {key: (raw.get(key) or "").strip() for key in columns + optional}
            found: list[tuple[str, str]] = []
            if not row["name"]:
                found.append(("name", "give a name"))
            if row["role"] not in roles:
                found.append(("role", f"one of {', '.join(roles)}"))
            phone = row["phone"]
            if phone and (not phone.startswith("+") or normalize_e164(phone, country="US") is None):
                found.append(("phone", "not a valid E.164 number"))
            if row["email"]:
                try:
                    row["email"] = normalized_email(row["email"])
                except InvalidEmailAddress as exc:
                    found.append(("email", str(exc)))
            if len(row["display_name"]) > DISPLAY_NAME_MAX:
                found.append(("display_name", f"longer than {DISPLAY_NAME_MAX} characters"))
            problems.extend(f"{csv_file}:{line}: {f} = {row[f]!r}: {why}" for f, why in found)
            rows.append(row)
    if problems:
        click.echo(f"{csv_file}: nothing imported:", err=True)
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    return rows


@contextmanager
def _staff_session(settings: Settings | None = None) -> Iterator[Session]:
    """One transaction on the configured database; the engine is closed after it."""
    from db.engine import make_engine
    from db.transaction import make_session_factory, transaction

    engine = make_engine((settings or _settings()).database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def _staff_error(exc: Exception) -> None:
    click.echo(f"error: {exc.args[0] if exc.args else exc}", err=True)
    sys.exit(1)


@user.command("tokens")
@click.argument("name")
def user_tokens(name: str) -> None:
    """List NAME's API tokens: id, last characters, issued, revoked (never the token)."""
    from intake.staff import UnknownUser, list_tokens

    try:
        with _staff_session() as session:
            tokens = list_tokens(session, name=name)
    except UnknownUser:
        _staff_error(UnknownUser(f"no user named {name!r}"))
        return
    if not tokens:
        click.echo(f"{name} has no API tokens")
    for token in tokens:
        state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}Z" if token.revoked_at else "valid"
        click.echo(
            f"{token.id}\t...{token.hint}\tissued {token.created_at:%Y-%m-%d %H:%M}Z\t{state}"
        )


@user.command("new-token")
@click.argument("name")
def user_new_token(name: str) -> None:
    """Issue NAME a further API token (shown once); revoke the old one when it is replaced."""
    from config.dependencies import SystemClock
    from intake.staff import UnknownUser, issue_token

    try:
        with _staff_session() as session:
            info, token = issue_token(session, name=name, now=SystemClock().now())
    except UnknownUser:
        _staff_error(UnknownUser(f"no user named {name!r}"))
        return
    click.echo(f"token {info.id} for {name}")
    click.echo(f"API token (shown once, keep it safe): {token}")


@user.command("revoke-token")
@click.argument("name")
@click.argument("token_id", type=int, required=False)
@click.option("--all", "revoke_all", is_flag=True, help="Revoke every token NAME holds.")
def user_revoke_token(name: str, token_id: int | None, revoke_all: bool) -> None:
    """Revoke NAME's token TOKEN_ID (see `hotline user tokens`), or --all; at once."""
    from config.dependencies import SystemClock
    from intake.staff import UnknownToken, UnknownUser, revoke_all_tokens, revoke_token

    if (token_id is None) == (not revoke_all):
        _staff_error(ValueError("give a TOKEN_ID or --all"))
    now = SystemClock().now()
    try:
        with _staff_session() as session:
            if token_id is not None:
                revoke_token(session, name=name, token_id=token_id, now=now)
                click.echo(f"revoked token {token_id} of {name}")
            else:
                count = revoke_all_tokens(session, name=name, now=now)
                click.echo(f"revoked {count} token(s) of {name}")
    except UnknownUser:
        _staff_error(UnknownUser(f"no user named {name!r}"))
    except UnknownToken as exc:
        _staff_error(exc)


@user.command("disable")
@click.argument("name")
def user_disable(name: str) -> None:
    """Disable NAME: their tokens stop working from the next request on."""
    _set_active(name, active=False)


@user.command("enable")
@click.argument("name")
def user_enable(name: str) -> None:
    """Enable NAME again: their tokens not revoked work again."""
    _set_active(name, active=True)


def _set_active(name: str, *, active: bool) -> None:
    from intake.staff import UnknownUser, set_active

    try:
        with _staff_session() as session:
            set_active(session, name=name, active=active)
    except UnknownUser:
        _staff_error(UnknownUser(f"no user named {name!r}"))
        return
    click.echo(f"{name} {'enabled' if active else 'disabled'}")


@user.command("presence")
@click.argument("name")
@click.argument("presence", type=click.Choice(["available", "busy", "away"]))
def user_presence(name: str, presence: str) -> None:
    """Set whether NAME takes live callers now (only available agents take the next caller)."""
    from config.dependencies import SystemClock
    from intake.staff import Presence, UnknownUser, find_member, set_presence

    try:
        with _staff_session() as session:
            member = find_member(session, name)
            set_presence(
                session, user_id=member.id, presence=Presence(presence), now=SystemClock().now()
            )
    except UnknownUser:
        _staff_error(UnknownUser(f"no user named {name!r}"))
        return
    click.echo(f"{name} is {presence}")


@user.command("update")
@click.argument("name")
@click.option("--phone", help="E.164, e.g. +4969123456: the phone rung for live callers")
@click.option("--region", help="The region whose callers and callbacks they work, e.g. de")
def user_update(name: str, phone: str | None, region: str | None) -> None:
    """Give NAME a phone or a region (what taking the next caller needs)."""
    from intake.staff import UnknownUser, set_work_details

    settings = _settings()
    if phone is None and region is None:
        _staff_error(ValueError("give --phone, --region or both"))
    if phone is not None:
        _check_phone(phone)
    if region is not None:
        _check_region(settings, region)
    try:
        with _staff_session(settings) as session:
            member = set_work_details(session, name=name, phone=phone, region=region)
    except UnknownUser:
        _staff_error(UnknownUser(f"no user named {name!r}"))
        return
    click.echo(f"{member.name}: phone {member.phone or '-'}, region {member.region or '-'}")
