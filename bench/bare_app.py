"""The benchmark's baseline: a bare Flask app that only checks the Twilio signature.

It answers every signed POST under ``/ivr/`` with one fixed TwiML document shaped and sized like
the hotline's greeting (a ``<Gather>`` with two ``<Say>`` and a re-prompt ``<Redirect>``), so the
ratio to it measures what the hotline adds on top of Flask, gunicorn and signature checking.

Served by gunicorn with the hotline's settings, e.g.::

    TWILIO_AUTH_TOKEN=... HOTLINE_PUBLIC_BASE_URL=http://127.0.0.1:8001 \\
        gunicorn -k gthread -w 2 --threads 4 -b 127.0.0.1:8001 'bench.bare_app:create_app()'
"""

from __future__ import annotations

import os

from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

VOICE = "Polly.Vicki-Neural"
LANGUAGE = "de-DE"


def fixed_twiml(base_url: str) -> str:
    """The one answer: greeting and menu in a ``<Gather>``, then a re-prompt ``<Redirect>``."""
    response = VoiceResponse()
    gather = response.gather(
        action=f"{base_url}/ivr/voice?step=menu&seq=1",
        method="POST",
        timeout=5,
        action_on_empty_result=False,
        input="dtmf",
        finish_on_key="#",
        num_digits=1,
    )
    gather.say("Willkommen beim technischen Support.", voice=VOICE, language=LANGUAGE)
    gather.say(
        "Für eine neue Support-Anfrage drücken Sie die 1. "
        "Zu einer bestehenden Support-Anfrage drücken Sie die 2.",
        voice=VOICE,
        language=LANGUAGE,
    )
    response.redirect(f"{base_url}/ivr/voice?step=menu&seq=1&silent=1", method="POST")
    return str(response)


def _raw_path_and_query() -> str:
    # As the hotline does: the path and query as sent, never request.url (ARCHITECTURE §5).
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    query = request.query_string.decode("latin-1")
    return f"{request.path}?{query}" if query else request.path


def create_app(auth_token: str | None = None, public_base_url: str | None = None) -> Flask:
    """The baseline app; token and base URL default to the hotline's environment variables."""
    token = auth_token or os.environ["TWILIO_AUTH_TOKEN"]
    base_url = (public_base_url or os.environ["HOTLINE_PUBLIC_BASE_URL"]).rstrip("/")
    body = fixed_twiml(base_url)
    app = Flask("bare")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    @app.post("/ivr/<path:_rest>")
    def webhook(_rest: str) -> Response:
        validator = RequestValidator(token)
        signature = request.headers.get("X-Twilio-Signature", "")
        url = base_url + _raw_path_and_query()
        if not signature or not validator.validate(url, request.form.to_dict(flat=True), signature):
            return Response("invalid signature\n", status=403, mimetype="text/plain")
        return Response(body, mimetype="text/xml")

    return app
