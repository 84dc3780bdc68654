"""Twilio REST senders for SMS and outbound calls, and log-only stand-ins without credentials."""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import ClosedPoolError, ConnectTimeoutError, MaxRetryError
from urllib3.exceptions import ProxyError as Urllib3ProxyError

from config.clock import SystemClock
from intake.log_masks import mask_phone
from intake.ports import Clock, SendError, SendRejected, SendUncertain, SentMessage

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0

# Every status Twilio reports for a call, so a callback arrives for each step of the leg.
# https://www.twilio.com/docs/voice/api/call-resource#statuscallbackevent
CALL_STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")

# Error codes that mean this recipient or this message can never be sent as asked; anything else
# (credentials, rate limits, outages) may succeed once fixed, so it is retried. Each permanent
# one fails its work at once, which raises one alert for it (db.work.fail), never a retry.
# https://www.twilio.com/docs/api/errors
PERMANENT_ERROR_CODES = frozenset(
    {
        # Our From number cannot send SMS. Retrying within the hour only repeats the refusal
        # (and the charge for the attempt); the alert tells an operator to fix sms_from.
        21606,
        21211,  # invalid 'To' phone number
        21217,  # phone number does not appear to be valid (calls)
        21401,  # invalid phone number
        21407,  # this phone number type does not support SMS
        21408,  # SMS to the region of the 'To' number is not enabled on the account
        21610,  # the recipient replied STOP: Twilio refuses every further message
        21612,  # the 'To' number is not reachable via SMS
        21614,  # the 'To' number is not a mobile number
        21617,  # the body exceeds the 1600 character limit
    }
)
_REJECTING_STATUSES = frozenset({400, 403, 404})

# Twilio stamps date_created with its own clock, to the second; the margin absorbs clock skew so
# a message created just after the attempt began is never missed. A wider window is harmless:
# reconciliation looks for the SR number in the body.
_CLOCK_MARGIN = timedelta(minutes=2)
# Newest messages come first, so one page covers every message of a recent attempt window.
_LIST_LIMIT = 100


class BaseUrlHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """A Twilio HTTP client that sends Twilio's hosts to ``base_url`` and never waits forever."""

    def __init__(
        self, base_url: str | None = None, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        # TwilioHttpClient waits forever by default: a silent Twilio would stall the worker and
        # let its lease expire mid-send. The timeout covers connect and each read.
        super().__init__(timeout=timeout_seconds)
        if base_url is not None:
            parts = urlsplit(base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"Twilio API base URL must be http(s)://host[:port]: {base_url!r}")
        self.base_url = base_url.rstrip("/") if base_url else None

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Any:
        """Send the request to the configured base URL instead of Twilio's host."""
        return super().request(
            method,
            self.map_url(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )

    def map_url(self, url: str) -> str:
        """Replace the scheme and host of a Twilio URL with the base URL, keeping path and query."""
        if self.base_url is None:
            return url
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme != "https" or not (host == "twilio.com" or host.endswith(".twilio.com")):
            return url
        return self.base_url + url[len(f"{parts.scheme}://{parts.netloc}") :]

    def close(self) -> None:
        """Close the pooled connections."""
        if self.session is not None:
            self.session.close()


class TwilioSenders:
    """Sends SMS and places calls through Twilio's REST API, reporting failures as send errors."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        api_base_url: str | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self._http = BaseUrlHttpClient(api_base_url, timeout_seconds=timeout_seconds)
        self._client = Client(account_sid, auth_token, http_client=self._http)

    def __enter__(self) -> TwilioSenders:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled HTTP connections to Twilio."""
        self._http.close()

    def send_sms(
        self, *, to: str, from_: str, body: str, status_callback: str | None
    ) -> SentMessage:
        """Create the message at Twilio; raises ``SendError`` subclasses."""
        with _twilio_errors(f"SMS to {to}", creates=True):
            message = self._client.messages.create(
                to=to, from_=from_, body=body, status_callback=status_callback
            )
        return _sent_message(message, to=to, body=body)

    def messages_sent_to(self, *, to: str, since: datetime) -> list[SentMessage]:
        """Messages Twilio holds for ``to`` created at or after ``since`` (less a clock margin)."""
        cutoff = since - _CLOCK_MARGIN
        with _twilio_errors(f"listing SMS to {to}", creates=False):
            # No DateSent filter: it has day granularity and Twilio sets date_sent only when a
            # message leaves its queue, so a message still queued would be missed.
            # https://www.twilio.com/docs/messaging/api/message-resource#read-multiple-message-resources
            listed = self._client.messages.list(to=to, limit=_LIST_LIMIT, page_size=_LIST_LIMIT)
        found = (_sent_message(message, to=to, body="") for message in listed)
        return [m for m in found if m.created_at is None or m.created_at >= cutoff]

    def place_call(
        self,
        *,
        to: str,
        from_: str,
        url: str,
        status_callback: str | None,
        timeout_seconds: int,
        machine_detection: bool = False,
    ) -> str:
        """Start the call at Twilio and return its SID; raises ``SendError`` subclasses."""
        # calls.create is not idempotent (Twilio has no idempotency key for it), so an uncertain
        # outcome is reported as such and never retried here.
        with _twilio_errors(f"call to {to}", creates=True):
            call = self._client.calls.create(
                to=to,
                from_=from_,
                url=url,
                status_callback=status_callback,
                status_callback_event=list(CALL_STATUS_EVENTS),
                timeout=timeout_seconds,
                **({"machine_detection": "Enable"} if machine_detection else {}),
            )
        return str(call.sid)


class LogOnlySenders:
    """Logs each SMS and call instead of sending it, for running without Twilio credentials."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._logged: list[SentMessage] = []

    def send_sms(
        self, *, to: str, from_: str, body: str, status_callback: str | None
    ) -> SentMessage:
        """Log the SMS as not sent and return it with a made-up SID."""
        message = SentMessage(
            sid=_log_sid("SMlog"),
            to=to,
            body=body,
            # Twilio's answer to a create, so callers treat both senders alike.
            status="queued",
            created_at=self._clock.now(),
        )
        logger.warning(
            "SMS NOT sent (log-only sender, no TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN): "
            "sid=%s to=%s from=%s body=%s",
            message.sid,
            mask_phone(to),
            mask_phone(from_),
            # Never the text: it names the caller's SR and may quote what they said.
            f"<{len(body)} characters>",
        )
        with self._lock:
            self._logged.append(message)
        return message

    def messages_sent_to(self, *, to: str, since: datetime) -> list[SentMessage]:
        """Messages this process logged for ``to`` at or after ``since``."""
        with self._lock:
            logged = list(self._logged)
        return [
            m for m in logged if m.to == to and m.created_at is not None and m.created_at >= since
        ]

    def place_call(
        self,
        *,
        to: str,
        from_: str,
        url: str,
        status_callback: str | None,
        timeout_seconds: int,
        machine_detection: bool = False,
    ) -> str:
        """Log the call as not placed and return a made-up SID."""
        sid = _log_sid("CAlog")
        logger.warning(
            "Call NOT placed (log-only sender, no TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN): "
            "sid=%s to=%s from=%s url=%s",
            sid,
            mask_phone(to),
            mask_phone(from_),
            url,
        )
        return sid


def _log_sid(prefix: str) -> str:
    # 34 characters, like Twilio's SIDs, so the made-up ones fit wherever a real one is stored.
    return prefix + secrets.token_hex(16)[: 34 - len(prefix)]


def _sent_message(resource: Any, *, to: str, body: str) -> SentMessage:
    created_at = resource.date_created
    return SentMessage(
        sid=str(resource.sid),
        to=str(resource.to or to),
        body=str(resource.body if resource.body is not None else body),
        status=str(resource.status or ""),
        created_at=created_at.astimezone(UTC) if isinstance(created_at, datetime) else None,
    )


@contextmanager
def _twilio_errors(action: str, *, creates: bool) -> Iterator[None]:
    """Turn what the twilio SDK raises into ``SendError``, ``SendRejected`` or ``SendUncertain``."""
    try:
        yield
    except (TwilioRestException, TwilioServiceException) as exc:
        raise _refusal(action, exc, creates=creates) from exc
    except TwilioException as exc:
        # A list page that is not 200 arrives as TwilioException("Unable to fetch page", response).
        raise SendError(f"{action} failed: {_page_error(exc)}") from exc
    except requests.RequestException as exc:
        if creates and may_have_reached_twilio(exc):
            raise SendUncertain(
                f"{action}: no answer from Twilio after the request was sent ({exc!r}); "
                "it may have been accepted"
            ) from exc
        raise SendError(f"{action}: Twilio could not be reached ({exc!r})") from exc
    except json.JSONDecodeError as exc:
        # Only a 2xx body is parsed as a record: Twilio accepted something we cannot read.
        if creates:
            raise SendUncertain(f"{action}: Twilio's answer was not JSON; may be accepted") from exc
        raise SendError(f"{action}: Twilio's answer was not JSON") from exc


def may_have_reached_twilio(exc: requests.RequestException) -> bool:
    """Whether Twilio may have received the request before the failure (assume so if unsure)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, ClosedPoolError):
            return False
        if isinstance(reason, MaxRetryError):
            # requests retries nothing, so urllib3 gives up at once on a failed connect (refused,
            # DNS, timeout, proxy) and wraps it; NewConnectionError is a ConnectTimeoutError.
            return not isinstance(reason.reason, ConnectTimeoutError | Urllib3ProxyError)
        # Dropped after the request went out: ProtocolError("Connection aborted.", ...).
        return True
    return not isinstance(
        exc,
        requests.exceptions.URLRequired
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema
        | requests.exceptions.InvalidURL
        | requests.exceptions.InvalidHeader,
    )


def _refusal(
    action: str, exc: TwilioRestException | TwilioServiceException, *, creates: bool
) -> SendError:
    status = int(exc.status or 0)
    code = exc.code if isinstance(exc.code, int) else None
    detail = exc.msg if isinstance(exc, TwilioRestException) else exc.detail or exc.title
    text = f"{action}: Twilio answered HTTP {status}"
    if code is not None:
        text += f", error {code} (https://www.twilio.com/docs/errors/{code})"
    text += f": {detail}"
    if status == 401:
        text += "; check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
    if status in _REJECTING_STATUSES and code in PERMANENT_ERROR_CODES:
        return SendRejected(text)
    if creates and status >= 500:
        # A 5xx on a create does not say nothing happened: Twilio (500, 503) may have failed
        # after storing the message or starting the call, and a gateway in front of it (502,
        # 504) gave up waiting on a request that got through. Its fate is unknown, just as if
        # our own read had timed out.
        return SendUncertain(text)
    # 401, 429 (rate limited before acting), other 4xx, and any failed listing: nothing was
    # created; a later try may work.
    return SendError(text)


def _page_error(exc: TwilioException) -> str:
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    if response is None or status is None:
        return str(exc)
    try:
        payload = json.loads(response.text)
    except (TypeError, ValueError):
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    text = f"Twilio answered HTTP {status}"
    if "code" in payload:
        text += f", error {payload['code']}"
    if "message" in payload:
        text += f": {payload['message']}"
    if status == 401:
        text += "; check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
    return text
