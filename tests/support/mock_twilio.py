"""A local Twilio REST API for tests and benchmarks: records creates, fails or drops on demand."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import operator
import re
import secrets
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

TEST_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TEST_AUTH_TOKEN = "test-auth-token"

Endpoint = Literal["messages", "message_list", "calls"]
ENDPOINTS: tuple[Endpoint, ...] = ("messages", "message_list", "calls")

_API_VERSION = "2010-04-01"
_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/(?P<resource>Messages|Calls)\.json$")


@dataclass(frozen=True)
class MockMessage:
    """An SMS the mock accepted, as it stands now."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    status: str
    date_created: datetime
    date_sent: datetime | None
    form: dict[str, list[str]]


@dataclass(frozen=True)
class MockCall:
    """A call the mock accepted."""

    sid: str
    account_sid: str
    to: str
    from_: str
    url: str | None
    status_callback: str | None
    status_callback_event: list[str]
    timeout: int | None
    status: str
    date_created: datetime
    form: dict[str, list[str]]


@dataclass(frozen=True)
class MockRequest:
    """One request as the mock received it, whatever became of it."""

    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    username: str | None


@dataclass(frozen=True)
class _Fault:
    kind: Literal["fail", "fail_after_recording", "drop", "drop_before_recording", "hold"]
    status: int = 500
    code: int = 20500
    message: str = "Internal Server Error"


class _Dropped(Exception):
    """Abort the request: the connection closes without any HTTP response."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mock: MockTwilio) -> None:
        self.mock = mock
        self._open_lock = threading.Lock()
        self._open: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def hang_up_all(self) -> None:
        """Unblock handler threads waiting on idle keep-alive connections."""
        with self._open_lock:
            open_sockets = list(self._open)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive like Twilio, so the client's connection pool is exercised too.
    protocol_version = "HTTP/1.1"
    # A stuck client never pins a handler thread for good.
    timeout = 30
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; with Nagle on, the body waits for the client's
        # delayed ACK of the headers (40 ms on Linux) and every request takes that long.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            status, payload = self.server.mock._answer(
                method, self.path, raw, self.headers.get("Authorization")
            )
        except _Dropped:
            # No status line, no headers: the client sees the connection end mid-request.
            self.close_connection = True
            return
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Twilio-Request-Id", "RQ" + secrets.token_hex(16))
        try:
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            # The client gave up on a held request and closed its end.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read the recorded requests instead."""


class MockTwilio:
    """A threaded HTTP server on 127.0.0.1 that answers the Twilio REST calls the hotline makes."""

    def __init__(
        self,
        *,
        account_sid: str = TEST_ACCOUNT_SID,
        auth_token: str = TEST_AUTH_TOKEN,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        # When true, listed messages stay "queued" with no date_sent, as in Twilio's send queue.
        self.keep_queued = False
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._messages: list[MockMessage] = []
        self._calls: list[MockCall] = []
        self._requests: list[MockRequest] = []
        self._faults: dict[Endpoint, deque[_Fault]] = {name: deque() for name in ENDPOINTS}
        self._released = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> str:
        """Start serving on an ephemeral port and return the base URL."""
        if self._server is not None:
            raise RuntimeError("mock Twilio already running")
        self._server = _Server(self)
        port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"mock-twilio-{port}",
            daemon=True,
        )
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    def stop(self) -> None:
        """Stop serving, close every connection and wait for the handler threads."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._released.set()
        server.shutdown()
        server.hang_up_all()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> MockTwilio:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what was received ---------------------------------------------------------------------

    @property
    def messages(self) -> list[MockMessage]:
        """Every message created so far, oldest first."""
        with self._lock:
            return list(self._messages)

    @property
    def calls(self) -> list[MockCall]:
        """Every call created so far, oldest first."""
        with self._lock:
            return list(self._calls)

    @property
    def requests(self) -> list[MockRequest]:
        """Every request received, including refused and dropped ones."""
        with self._lock:
            return list(self._requests)

    def set_message_status(self, sid: str, status: str, *, sent_at: datetime | None = None) -> None:
        """Move a message to ``status`` (e.g. "delivered"), as Twilio's queue would."""
        with self._lock:
            for index, message in enumerate(self._messages):
                if message.sid == sid:
                    date_sent = sent_at or message.date_sent or self._clock()
                    self._messages[index] = replace(message, status=status, date_sent=date_sent)
                    return
        raise KeyError(sid)

    def reset(self) -> None:
        """Forget every record, request and pending fault."""
        with self._lock:
            self._messages.clear()
            self._calls.clear()
            self._requests.clear()
            for faults in self._faults.values():
                faults.clear()

    # -- fault injection -----------------------------------------------------------------------

    def fail_next(
        self,
        endpoint: Endpoint,
        *,
        status: int = 500,
        code: int = 20500,
        message: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests to ``endpoint`` with a Twilio error; no record."""
        text = message or f"Mock failure with error {code}"
        self._add_faults(endpoint, _Fault("fail", status, code, text), times)

    def fail_next_after_recording(
        self,
        endpoint: Endpoint,
        *,
        status: int = 500,
        code: int = 20500,
        message: str | None = None,
        times: int = 1,
    ) -> None:
        """Create the record (it was sent), then answer with a Twilio error all the same."""
        text = message or f"Mock failure with error {code}"
        self._add_faults(endpoint, _Fault("fail_after_recording", status, code, text), times)

    def drop_next(self, endpoint: Endpoint, *, times: int = 1) -> None:
        """Create the record (it was sent) but close the connection without answering."""
        self._add_faults(endpoint, _Fault("drop"), times)

    def drop_next_before_recording(self, endpoint: Endpoint, *, times: int = 1) -> None:
        """Close the connection without answering or recording (the request left, nothing sent)."""
        self._add_faults(endpoint, _Fault("drop_before_recording"), times)

    def hold_next(self, endpoint: Endpoint, *, times: int = 1) -> None:
        """Create the record, then answer only after ``release_held()``: the client times out."""
        self._released.clear()
        self._add_faults(endpoint, _Fault("hold"), times)

    def release_held(self) -> None:
        """Let every held request answer (to a client that has likely gone)."""
        self._released.set()

    def _add_faults(self, endpoint: Endpoint, fault: _Fault, times: int) -> None:
        if endpoint not in self._faults:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {ENDPOINTS}")
        with self._lock:
            self._faults[endpoint].extend([fault] * times)

    def _next_fault(self, endpoint: Endpoint) -> _Fault | None:
        with self._lock:
            faults = self._faults[endpoint]
            return faults.popleft() if faults else None

    # -- request handling (handler threads) ----------------------------------------------------

    def _answer(
        self, method: str, target: str, raw: bytes, authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        url = urlsplit(target)
        query = parse_qs(url.query, keep_blank_values=True)
        form = parse_qs(raw.decode("utf-8"), keep_blank_values=True) if method == "POST" else {}
        username, password = _basic_auth(authorization)
        with self._lock:
            self._requests.append(MockRequest(method, url.path, query, form, username))

        if not (
            username is not None
            and password is not None
            and hmac.compare_digest(username.encode(), self.account_sid.encode())
            and hmac.compare_digest(password.encode(), self.auth_token.encode())
        ):
            # Twilio's answer to bad credentials. https://www.twilio.com/docs/errors/20003
            return _error(401, 20003, "Authenticate")
        match = _PATH.match(url.path)
        if match is None or match["account"] != self.account_sid:
            return _error(404, 20404, "The requested resource was not found")
        endpoint: Endpoint
        if match["resource"] == "Messages":
            endpoint = "messages" if method == "POST" else "message_list"
        elif method == "POST":
            endpoint = "calls"
        else:
            return _error(405, 20004, "Method not allowed")

        fault = self._next_fault(endpoint)
        if fault is not None and fault.kind == "drop_before_recording":
            raise _Dropped
        if fault is not None and fault.kind == "fail":
            return _error(fault.status, fault.code, fault.message)

        if endpoint == "message_list":
            status, payload = self._list_messages(url.path, query)
        elif endpoint == "messages":
            status, payload = self._create_message(form)
        else:
            status, payload = self._create_call(form)
        if fault is not None and fault.kind == "drop" and status < 300:
            raise _Dropped
        if fault is not None and fault.kind == "fail_after_recording" and status < 300:
            return _error(fault.status, fault.code, fault.message)
        if fault is not None and fault.kind == "hold":
            # Bounded, so a forgotten release never pins a handler thread for good.
            self._released.wait(timeout=60)
        return status, payload

    def _create_message(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        to, from_, body = _field(form, "To"), _field(form, "From"), _field(form, "Body")
        # https://www.twilio.com/docs/errors/21604, /21603, /21602
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not from_:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        created = MockMessage(
            sid="SM" + secrets.token_hex(16),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            status_callback=_field(form, "StatusCallback"),
            status="queued",
            date_created=self._clock(),
            date_sent=None,
            form=form,
        )
        with self._lock:
            stored = created
            if not self.keep_queued:
                # Sent at once; Twilio's create answer still says "queued", as below.
                stored = replace(created, status="sent", date_sent=created.date_created)
            self._messages.append(stored)
        return 201, self._message_json(created)

    def _create_call(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        to, from_ = _field(form, "To"), _field(form, "From")
        url, twiml = _field(form, "Url"), _field(form, "Twiml")
        # https://www.twilio.com/docs/errors/21201, /21213
        if not to:
            return _error(400, 21201, "No 'To' number is specified")
        if not from_:
            return _error(400, 21213, "No 'From' number is specified")
        if not (url or twiml or _field(form, "ApplicationSid")):
            return _error(400, 20001, "Url, Twiml or ApplicationSid is required")
        timeout = _field(form, "Timeout")
        call = MockCall(
            sid="CA" + secrets.token_hex(16),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            url=url,
            status_callback=_field(form, "StatusCallback"),
            status_callback_event=form.get("StatusCallbackEvent", []),
            timeout=int(timeout) if timeout else None,
            status="queued",
            date_created=self._clock(),
            form=form,
        )
        with self._lock:
            self._calls.append(call)
        return 201, self._call_json(call)

    def _list_messages(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            found = list(self._messages)
        to, from_ = _field(query, "To"), _field(query, "From")
        if to is not None:
            found = [m for m in found if m.to == to]
        if from_ is not None:
            found = [m for m in found if m.from_ == from_]
        # Twilio filters DateSent by GMT day (YYYY-MM-DD, or with < and > for "on or before/after");
        # a message still queued has no date_sent and matches no DateSent filter.
        for key, keep in (
            ("DateSent", operator.eq),
            ("DateSent<", operator.le),
            ("DateSent>", operator.ge),
        ):
            value = _field(query, key)
            if value:
                try:
                    on = date.fromisoformat(value[:10])
                except ValueError:
                    return _error(400, 20001, f"Invalid date value for {key}: {value}")
                found = [
                    m
                    for m in found
                    if m.date_sent is not None and keep(m.date_sent.astimezone(UTC).date(), on)
                ]
        # Most recent first, as Twilio lists them.
        found = [m for _, m in sorted(enumerate(found), key=lambda p: (p[1].date_created, p[0]))]
        found.reverse()

        page_size = int(_field(query, "PageSize") or 50)
        page = int(_field(query, "Page") or 0)
        start = page * page_size
        chunk = found[start : start + page_size]
        filters = {k: v[-1] for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def page_uri(number: int) -> str:
            return f"{path}?{urlencode({**filters, 'PageSize': page_size, 'Page': number})}"

        has_next = start + page_size < len(found)
        return 200, {
            "messages": [self._message_json(m) for m in chunk],
            "uri": page_uri(page),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if has_next else None,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "page": page,
            "page_size": page_size,
            "start": start,
            "end": start + max(len(chunk) - 1, 0),
        }

    def _message_json(self, message: MockMessage) -> dict[str, Any]:
        uri = f"/{_API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}"
        return {
            "account_sid": message.account_sid,
            "api_version": _API_VERSION,
            "body": message.body,
            "date_created": _rfc2822(message.date_created),
            "date_sent": _rfc2822(message.date_sent) if message.date_sent else None,
            "date_updated": _rfc2822(message.date_sent or message.date_created),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": message.from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            "status": message.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": message.to,
            "uri": f"{uri}.json",
        }

    def _call_json(self, call: MockCall) -> dict[str, Any]:
        uri = f"/{_API_VERSION}/Accounts/{call.account_sid}/Calls/{call.sid}"
        return {
            "account_sid": call.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": _API_VERSION,
            "caller_name": None,
            "date_created": _rfc2822(call.date_created),
            "date_updated": _rfc2822(call.date_created),
            "direction": "outbound-api",
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": call.from_,
            "from_formatted": call.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": call.sid,
            "start_time": None,
            "status": call.status,
            "subresource_uris": {"recordings": f"{uri}/Recordings.json"},
            "to": call.to,
            "to_formatted": call.to,
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }


def _field(values: dict[str, list[str]], name: str) -> str | None:
    found = values.get(name)
    return found[-1] if found else None


def _basic_auth(header: str | None) -> tuple[str | None, str | None]:
    if not header or not header.startswith("Basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[len("Basic ") :], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    username, _, password = decoded.partition(":")
    return username, password


def _error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    # Twilio's error body; the SDK reads "code" and "message".
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _rfc2822(instant: datetime) -> str:
    # Twilio's style: "Thu, 24 Aug 2023 05:01:45 +0000".
    return format_datetime(instant.astimezone(UTC))
