"""The terminal phone's HTTP transport: a connection the server drops is retried once, no more."""

from __future__ import annotations

import itertools
import socket
import struct
import threading
from dataclasses import dataclass
from functools import partial
from http.client import RemoteDisconnected
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import parse_qsl

import pytest
import requests
from click.testing import CliRunner
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import (
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from config import cli
from config.settings import LOCAL_AUTH_TOKEN
from ivr.call_walker import CallWalker, ConnectionDropped, WalkerError
from ivr.walker_transport import dropped_connection, requests_transport
from tests.support.smtp import free_port

GERMAN_LINE = "+498001006711"
CALLER = "+4915112345678"
MENU = (
    '<Response><Gather input="dtmf" numDigits="1" action="/ivr/menu">'
    "<Say>Press 1 for support.</Say></Gather></Response>"
)
THANKS = "<Response><Say>Thank you.</Say><Hangup/></Response>"
# Two rounds of a hold (a pause, then the hold's URL again), then its end.
HOLD_FIRST = (
    '<Response><Say>Please hold.</Say><Pause length="8"/>'
    '<Redirect method="POST">/ivr/escalation/hold?said=0</Redirect></Response>'
)
HOLD_AGAIN = (
    '<Response><Pause length="5"/>'
    '<Redirect method="POST">/ivr/escalation/hold?said=0</Redirect></Response>'
)
ACCEPTED = "<Response><Say>Mia accepted.</Say><Hangup/></Response>"
# `hotline call` on settings' defaults: the local auth token signs the requests.
CLI_ENV: dict[str, str | None] = {"TWILIO_AUTH_TOKEN": None, "HOTLINE_PUBLIC_BASE_URL": None}

# What the server does with one request: answer it, close the connection without a word
# (FIN, as gunicorn does when its keep-alive ends), or reset it (RST).
Action = Literal["close", "reset"] | tuple[int, str]


@dataclass(frozen=True)
class Received:
    """One request as the server read it, with the connection it came on."""

    connection: int
    path: str
    form: dict[str, str]
    signature: str | None


class ScriptedServer:
    """An HTTP/1.1 server on 127.0.0.1 that treats each request as its script says, in order."""

    def __init__(self, script: list[Action], *, then: Action | None = None) -> None:
        self.script = list(script)
        self.then = then
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._connections = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # Kept-alive connections the client never closed must not hold up the test's end.
        self._server.block_on_close = False
        # shutdown() waits up to one poll interval (0.5 s by default) for the loop to notice.
        serve = partial(self._server.serve_forever, poll_interval=0.01)
        self._thread = threading.Thread(target=serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.received]

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _next_action(self, received: Received) -> Action:
        with self._lock:
            self.received.append(received)
            if self.script:
                return self.script.pop(0)
        assert self.then is not None, f"unexpected request {received.path}"
        return self.then

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn serves

            def setup(self) -> None:
                super().setup()
                self.connection_number = next(server._connections)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                action = server._next_action(
                    Received(
                        connection=self.connection_number,
                        path=self.path,
                        form=dict(parse_qsl(body.decode())),
                        signature=self.headers.get("X-Twilio-Signature"),
                    )
                )
                if action == "close":
                    self.close_connection = True
                    return
                if action == "reset":
                    # SO_LINGER 0: close() sends RST instead of FIN.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                    self.close_connection = True
                    return
                status, text = action
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def walker_for(server: ScriptedServer) -> CallWalker:
    return CallWalker(
        transport=requests_transport(timeout=10),
        base_url=server.base_url,
        auth_token=LOCAL_AUTH_TOKEN,
        to=GERMAN_LINE,
        from_=CALLER,
    )


def test_hotline_call_survives_a_dropped_keep_alive_connection() -> None:
    script: list[Action] = [(200, MENU), "close", (200, THANKS), (204, "")]
    with ScriptedServer(script) as server:
        result = CliRunner(env=CLI_ENV).invoke(
            cli.call, [GERMAN_LINE, "--url", server.base_url], input="1\n"
        )

    assert result.exit_code == 0, result.output
    assert "< Thank you." in result.output
    assert "[call ended]" in result.output
    voice, dropped, retried, status = server.received
    assert [r.path for r in server.received] == [
        "/ivr/voice",
        "/ivr/menu",
        "/ivr/menu",
        "/ivr/status",
    ]
    # The answer went out on the connection kept alive since the call began; the server closed
    # it instead of answering, and the same signed request went again on a new connection.
    assert dropped.connection == voice.connection
    assert retried.connection != dropped.connection
    assert (retried.form, retried.signature) == (dropped.form, dropped.signature)
    assert retried.form["Digits"] == "1"
    assert status.form["CallStatus"] == "completed"


def test_the_walker_resends_a_request_whose_connection_was_reset() -> None:
    with ScriptedServer([(200, MENU), "reset", (200, THANKS), (204, "")]) as server:
        walker = walker_for(server)
        walker.dial()
        heard = walker.press("1")

    assert heard == ["Thank you."]
    assert walker.ended
    assert server.paths() == ["/ivr/voice", "/ivr/menu", "/ivr/menu", "/ivr/status"]


@pytest.mark.parametrize("drop", ["close", "reset"])
def test_a_server_that_drops_every_connection_fails_the_call_after_exactly_two_attempts(
    drop: Action,
) -> None:
    with ScriptedServer([], then=drop) as server:
        walker = walker_for(server)
        with pytest.raises(ConnectionDropped, match="without an answer, twice") as raised:
            walker.dial()

    assert server.paths() == ["/ivr/voice", "/ivr/voice"]
    assert str(raised.value).startswith(f"{server.base_url}/ivr/voice: ")
    assert isinstance(raised.value, WalkerError)  # `hotline call` prints it as an error


def test_hotline_call_reports_a_server_that_drops_every_connection() -> None:
    with ScriptedServer([], then="close") as server:
        result = CliRunner(env=CLI_ENV).invoke(cli.call, [GERMAN_LINE, "--url", server.base_url])

    assert result.exit_code == 1
    assert "the server closed the connection without an answer, twice" in result.output
    assert server.paths() == ["/ivr/voice", "/ivr/voice"]


def test_an_http_error_status_is_not_sent_again() -> None:
    with ScriptedServer([(500, "<html>Internal Server Error</html>")]) as server:
        walker = walker_for(server)
        with pytest.raises(WalkerError, match="answered 500"):
            walker.dial()

    assert server.paths() == ["/ivr/voice"]


def test_a_refused_connection_is_not_sent_again() -> None:
    walker = CallWalker(
        transport=requests_transport(timeout=10),
        base_url=f"http://127.0.0.1:{free_port()}",
        auth_token=LOCAL_AUTH_TOKEN,
        to=GERMAN_LINE,
        from_=CALLER,
    )
    with pytest.raises(requests.ConnectionError) as raised:
        walker.dial()

    assert not isinstance(raised.value, ConnectionDropped)
    assert dropped_connection(raised.value) is None


_POOL = HTTPConnectionPool("127.0.0.1")
_ABORTED = "Connection aborted."


@pytest.mark.parametrize(
    ("failure", "is_dropped"),
    [
        (requests.ConnectionError(ProtocolError(_ABORTED, RemoteDisconnected("closed"))), True),
        (requests.ConnectionError(ProtocolError(_ABORTED, ConnectionResetError())), True),
        (requests.ConnectionError(ProtocolError(_ABORTED, BrokenPipeError())), True),
        (
            requests.ConnectionError(
                MaxRetryError(
                    _POOL, "/ivr/voice", NewConnectionError(HTTPConnection(""), "refused")
                )
            ),
            False,
        ),
        (requests.ReadTimeout(ReadTimeoutError(_POOL, "/ivr/voice", "read timed out")), False),
        (requests.ConnectTimeout("connect timed out"), False),
    ],
)
def test_only_a_connection_lost_before_the_answer_counts_as_dropped(
    failure: requests.RequestException, is_dropped: bool
) -> None:
    # A read timeout means the server may still be working on the turn: the caller would
    # hear the fallback, not the same question twice.
    assert (dropped_connection(failure) is not None) is is_dropped


def test_the_walker_stops_at_each_hold_round_until_the_caller_holds_on() -> None:
    script: list[Action] = [(200, MENU), (200, HOLD_FIRST), (200, HOLD_AGAIN), (200, ACCEPTED)]
    with ScriptedServer(script, then=(204, "")) as server:
        walker = walker_for(server)
        walker.dial()
        assert walker.press("1") == ["Please hold."]
        assert walker.holding is not None
        assert (walker.holding.seconds, walker.ended) == (8, False)
        with pytest.raises(WalkerError, match="not waiting for input"):
            walker.press("1")
        assert walker.hold() == []
        assert walker.holding is not None
        assert walker.holding.seconds == 5
        assert walker.hold() == ["Mia accepted."]
        assert (walker.holding, walker.ended) == (None, True)
        with pytest.raises(WalkerError, match="not on hold"):
            walker.hold()
    assert server.paths() == [
        "/ivr/voice",
        "/ivr/menu",
        "/ivr/escalation/hold?said=0",
        "/ivr/escalation/hold?said=0",
        "/ivr/status",
    ]
    assert server.received[-1].form["CallDuration"] == str(walker.seconds)


def test_hotline_call_waits_out_each_hold_round_then_asks_again(monkeypatch) -> None:
    waited: list[float] = []
    monkeypatch.setattr(cli, "_wait_on_hold", waited.append)
    script: list[Action] = [(200, MENU), (200, HOLD_FIRST), (200, HOLD_AGAIN), (200, ACCEPTED)]
    with ScriptedServer(script, then=(204, "")) as server:
        result = CliRunner(env=CLI_ENV).invoke(
            cli.call, [GERMAN_LINE, "--url", server.base_url], input="1\n"
        )
    assert result.exit_code == 0, result.output
    assert waited == [8, 5]  # the pauses, as a caller would wait them (never in a test)
    lines = result.output.splitlines()
    assert lines[-5:] == [
        "  < Please hold.",
        "  [on hold for 8 s; Ctrl-C hangs up]",
        "  [on hold for 5 s; Ctrl-C hangs up]",
        "  < Mia accepted.",
        "[call ended]",
    ]
    assert server.paths()[-1] == "/ivr/status"


def test_hotline_call_hangs_up_when_the_caller_interrupts_the_hold(monkeypatch) -> None:
    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_wait_on_hold", interrupted)
    script: list[Action] = [(200, MENU), (200, HOLD_FIRST)]
    with ScriptedServer(script, then=(204, "")) as server:
        result = CliRunner(env=CLI_ENV).invoke(
            cli.call, [GERMAN_LINE, "--url", server.base_url], input="1\n"
        )
    assert result.exit_code == 0, result.output
    assert "[you hung up]" in result.output
    assert server.paths() == ["/ivr/voice", "/ivr/menu", "/ivr/status"]
