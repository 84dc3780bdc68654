"""The walker's way to a running server over HTTP (``hotline call``, ``hotline answer``, the
benchmarks): a signed webhook posted as Twilio would, sent once more when the server dropped
the connection before answering."""

from __future__ import annotations

from ivr.call_walker import ConnectionDropped, Transport


def requests_transport(timeout: float = 15.0) -> Transport:
    """A transport over HTTP, for a running server (Twilio waits at most 15 s).

    A request whose connection is dropped before any answer is sent once more, on a new
    connection; a second drop raises ``ConnectionDropped``.
    """
    import requests

    session = requests.Session()

    def post(url: str, form: dict[str, str], headers: dict[str, str]) -> requests.Response:
        return session.post(url, data=form, headers=headers, timeout=timeout)

    def send(url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        try:
            response = post(url, form, headers)
        except requests.ConnectionError as exc:
            if dropped_connection(exc) is None:
                raise
            # gunicorn closes a kept-alive connection after 2 idle seconds (its ``keepalive``);
            # an answer typed just then goes out on a socket the server is closing. Webhooks
            # are idempotent per CallSid and turn, so the same signed request is safe to send
            # again; requests has already discarded the dead connection.
            try:
                response = post(url, form, headers)
            except requests.ConnectionError as again:
                cause = dropped_connection(again)
                if cause is None:
                    raise
                raise ConnectionDropped(
                    f"{url}: the server closed the connection without an answer, twice "
                    f"({type(cause).__name__}: {cause})"
                ) from again
        return response.status_code, response.text

    return send


def dropped_connection(exc: Exception) -> ConnectionError | None:
    """How the server closed or reset the connection before answering; None if it did not."""
    from urllib3.exceptions import ProtocolError

    # requests wraps a connection lost while sending or awaiting the status line as
    # ProtocolError("Connection aborted.", <OSError>). A refused connect arrives as a
    # MaxRetryError, a timeout as requests' Timeout, and an HTTP error status as a response.
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, ProtocolError) and isinstance(reason.args[-1], ConnectionError):
        return reason.args[-1]
    return None
