"""Settings from the environment, validated once at start with one message per problem."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from config.mailer import SmtpMailer
from db.engine import DatabaseTimeouts
from intake.catalog import Catalog

# Used only in local mode (``make run``, ``hotline call``) when no Twilio credentials are given:
# webhooks are still signed and checked, with a token both sides know.
LOCAL_AUTH_TOKEN = "local-development-token"
LOCAL_ACCOUNT_SID = "AC00000000000000000000000000000000"
DEFAULT_CONFIG = Path(__file__).resolve().parent / "hotline.toml"
# Twilio waits 15 s for a webhook (then plays its fallback URL); ours answer well within it.
WEBHOOK_BUDGET_SECONDS = 10.0


class SettingsError(Exception):
    """One or more settings are missing or malformed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, repr=False)
class Settings:
    """Everything the processes read from the environment.

    Its repr (printed in tracebacks, debuggers and logs) names which secrets are set, never
    their values: the Twilio auth token signs webhooks and sends SMS in our name.
    """

    database_url: str
    config_path: Path
    public_base_url: str | None
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    twilio_api_base_url: str | None
    smtp_url: str | None
    secret_key: str | None
    # How long web and worker processes wait for the database (see db.engine.DatabaseTimeouts).
    database_timeouts: DatabaseTimeouts
    # Where a web process keeps callback numbers while the database is away (one file each).
    spool_dir: Path

    # Local development: webhooks may be signed with LOCAL_AUTH_TOKEN, senders may be log-only,
    # and only loopback clients are served. Never implied: `hotline serve --with-worker` or
    # HOTLINE_LOCAL_MODE=1 (README), because a server that fell into it by a missing variable
    # would accept webhooks signed with a token published in this repository.
    local_mode: bool = False

    def __repr__(self) -> str:
        return (
            f"Settings(database_url={_without_password(self.database_url)!r},"
            f" config_path={str(self.config_path)!r}, public_base_url={self.public_base_url!r},"
            f" twilio_account_sid={self.twilio_account_sid!r},"
            f" twilio_auth_token={_hidden(self.twilio_auth_token)},"
            f" twilio_api_base_url={self.twilio_api_base_url!r},"
            f" smtp_url={_smtp_without_password(self.smtp_url)!r},"
            f" secret_key={_hidden(self.secret_key)}, local_mode={self.local_mode})"
        )

    __str__ = __repr__

    @property
    def has_twilio_credentials(self) -> bool:
        """Whether real Twilio REST calls can be made."""
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def webhook_auth_token(self) -> str:
        """The token webhook signatures are checked with (a fixed local one without Twilio)."""
        return self.twilio_auth_token or LOCAL_AUTH_TOKEN

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> Settings:
        """Read and check ``HOTLINE_*`` and ``TWILIO_*`` variables; raise naming every problem."""
        env = os.environ if env is None else env
        cwd = cwd or Path.cwd()
        problems: list[str] = []

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        database_url = get("HOTLINE_DATABASE_URL") or f"sqlite:///{cwd / 'var' / 'hotline.db'}"
        try:
            backend = make_url(database_url).get_backend_name()
            # "postgres://" is what many hosting platforms hand out; db.engine maps it to psycopg.
            if backend not in ("sqlite", "postgresql", "postgres"):
                problems.append(
                    f"HOTLINE_DATABASE_URL: {backend!r} is not supported (use sqlite:/// or"
                    " postgresql://)"
                )
        except ArgumentError:
            problems.append(
                "HOTLINE_DATABASE_URL: not a database URL (e.g. sqlite:///var/hotline.db or"
                " postgresql://user@host/db)"
            )
        default = DatabaseTimeouts()
        timeouts = DatabaseTimeouts(
            connect_seconds=_seconds(
                problems, "HOTLINE_DB_CONNECT_TIMEOUT", get, default.connect_seconds
            ),
            statement_seconds=_seconds(
                problems, "HOTLINE_DB_STATEMENT_TIMEOUT", get, default.statement_seconds
            ),
            lock_seconds=_seconds(problems, "HOTLINE_DB_LOCK_TIMEOUT", get, default.lock_seconds),
        )
        if timeouts.longest_wait_seconds > WEBHOOK_BUDGET_SECONDS:
            problems.append(
                "HOTLINE_DB_CONNECT_TIMEOUT and HOTLINE_DB_STATEMENT_TIMEOUT: together they let a"
                f" webhook wait {timeouts.longest_wait_seconds:g} s for the database, more than"
                f" {WEBHOOK_BUDGET_SECONDS:g} s (a connection waits for a free one, a ping, a new"
                " connection, then a statement and a second for its reply)"
            )
        spool_dir = Path(get("HOTLINE_SPOOL_DIR") or _default_spool_dir(database_url, cwd))
        config_path = Path(get("HOTLINE_CONFIG") or DEFAULT_CONFIG)
        if not config_path.is_file():
            problems.append(f"HOTLINE_CONFIG: {config_path} does not exist")
        public_base_url = get("HOTLINE_PUBLIC_BASE_URL")
        if public_base_url is not None:
            public_base_url = public_base_url.rstrip("/")
            _check_http_url(problems, "HOTLINE_PUBLIC_BASE_URL", public_base_url, path_ok=True)
        sid = get("TWILIO_ACCOUNT_SID")
        if sid is not None and not (sid.startswith("AC") and len(sid) == 34):
            problems.append("TWILIO_ACCOUNT_SID: must be 34 characters starting with AC")
        token = get("TWILIO_AUTH_TOKEN")
        if (sid is None) != (token is None):
            problems.append("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: set both or neither")
        api_base = get("TWILIO_API_BASE_URL")
        if api_base is not None:
            api_base = api_base.rstrip("/")
            _check_http_url(problems, "TWILIO_API_BASE_URL", api_base, path_ok=False)
        smtp_url = get("HOTLINE_SMTP_URL")
        if smtp_url is not None:
            try:
                # The parser the mailer uses, so a URL that passes here also works there.
                SmtpMailer.from_url(smtp_url.strip())
            except ValueError as exc:
                problems.append(
                    f"HOTLINE_SMTP_URL: {exc}; use smtp://host:port,"
                    " smtp+starttls://user:pass@host:587 or smtps://host:465,"
                    " each with ?from=address"
                )
        local_mode = _flag(problems, "HOTLINE_LOCAL_MODE", get("HOTLINE_LOCAL_MODE"))
        if problems:
            raise SettingsError(problems)
        return cls(
            database_url=database_url,
            config_path=config_path,
            public_base_url=public_base_url,
            twilio_account_sid=sid,
            twilio_auth_token=token,
            twilio_api_base_url=api_base,
            smtp_url=smtp_url,
            secret_key=get("HOTLINE_SECRET_KEY"),
            database_timeouts=timeouts,
            spool_dir=spool_dir,
            local_mode=local_mode,
        )

    def as_local(self) -> Settings:
        """These settings in local mode (``hotline serve --with-worker``)."""
        return replace(self, local_mode=True)

    def startup_problems(self) -> list[str]:
        """Why a server or worker on these settings must not start (none in local mode)."""
        if self.local_mode:
            return []
        problems = self.production_problems()
        if problems:
            problems.append(
                "(for local development only: `hotline serve --with-worker` or"
                " HOTLINE_LOCAL_MODE=1, which serve loopback clients only)"
            )
        return problems

    def production_problems(self) -> list[str]:
        """What a server reachable by Twilio must have (outside local mode)."""
        problems = []
        if not self.twilio_auth_token:
            problems.append("TWILIO_AUTH_TOKEN: required to check webhook signatures")
        if not self.public_base_url:
            problems.append(
                "HOTLINE_PUBLIC_BASE_URL: required (the https:// address Twilio calls; signatures"
                " are checked against it)"
            )
        return problems


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(problems: list[str], name: str, value: str | None) -> bool:
    if value is None or value.lower() in _FALSE:
        return False
    if value.lower() in _TRUE:
        return True
    problems.append(f"{name}: {value!r} is neither 1 nor 0")
    return False


def _hidden(secret: str | None) -> str:
    return "None" if secret is None else "'***'"


def _without_password(database_url: str) -> str:
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "***"


def _smtp_without_password(smtp_url: str | None) -> str | None:
    if smtp_url is None:
        return None
    parts = urlsplit(smtp_url)
    if parts.password is None:
        return smtp_url
    user = parts.username or ""
    netloc = f"{user}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def sending_problems(settings: Settings, catalog: Catalog) -> list[str]:
    """What the configuration must have before SMS really go out through Twilio (one line)."""
    if not settings.has_twilio_credentials:
        return []  # log-only senders: no SMS leaves, any sender will do
    missing = [region.key for region in catalog.regions if region.sms_from is None]
    if not missing:
        return []
    # The hotline numbers are toll-free, which mostly cannot send SMS: Twilio refuses every
    # confirmation with error 21606, so a missing sender would fail each one after the call.
    return [
        f"{settings.config_path}: sms_from is required for region(s) {', '.join(missing)} when"
        " TWILIO_ACCOUNT_SID is set: give each [[regions]] entry an SMS-capable number of the"
        " Twilio account (toll-free hotline numbers usually cannot send SMS, Twilio error 21606)"
    ]


def _seconds(
    problems: list[str], name: str, get: Callable[[str], str | None], default: float
) -> float:
    value = get(name)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 60:
        problems.append(f"{name}: give seconds between 0 and 60 (e.g. 2 or 0.5), not {value!r}")
        return default
    return seconds


def _default_spool_dir(database_url: str, cwd: Path) -> Path:
    """Beside the SQLite database (``var/spool`` for ``var/hotline.db``); else ``./var/spool``."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return cwd / "var" / "spool"
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return (cwd / url.database).parent / "spool"
    return cwd / "var" / "spool"


def _check_http_url(problems: list[str], name: str, value: str, *, path_ok: bool) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"{name}: {value!r} is not an http(s) URL")
    elif not path_ok and parts.path not in ("", "/"):
        problems.append(f"{name}: give only scheme, host and port (no path): {value!r}")
    elif parts.query or parts.fragment:
        problems.append(f"{name}: must not have a query or fragment: {value!r}")
