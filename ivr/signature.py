"""``@twilio_signed``: reject webhooks whose X-Twilio-Signature does not match."""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar
from urllib.parse import quote

from flask import Response, current_app, request
from twilio.request_validator import RequestValidator

log = logging.getLogger("hotline.ivr")

P = ParamSpec("P")
R = TypeVar("R")


def public_url(path_and_query: str) -> str:
    """The absolute URL Twilio uses for ``path_and_query`` (signatures are computed over it)."""
    base = current_app.config.get("PUBLIC_BASE_URL") or request.url_root.rstrip("/")
    return f"{base}{path_and_query}"


def raw_path_and_query() -> str:
    """The request's path and query as sent, not as decoded by the framework."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    path = quote(
        environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/:@!$&'()*+,;=-._~"
    )
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def signature_is_valid() -> bool:
    """Whether the current request carries a valid Twilio signature for our public URL."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    # Never request.url: behind a TLS-terminating proxy Flask sees http:// and every call fails.
    url = public_url(raw_path_and_query())
    validator = RequestValidator(current_app.config["TWILIO_WEBHOOK_TOKEN"])
    params = request.form.to_dict(flat=True)
    # The URL exactly as configured matches nearly always: one HMAC. Otherwise the library
    # also tries it with and without the port (Twilio signs either way).
    if hmac.compare_digest(validator.compute_signature(url, params), signature):
        return True
    return bool(validator.validate(url, params, signature))


def twilio_signed(view: Callable[P, R]) -> Callable[P, R | Response]:
    """Answer 403 and store nothing unless the request is signed by Twilio."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        if not signature_is_valid():
            log.warning(
                "event=bad_signature path=%s call_sid=%s",
                request.path,
                request.form.get("CallSid", "-"),
            )
            return Response("invalid signature\n", status=403, mimetype="text/plain")
        return view(*args, **kwargs)

    return wrapper
