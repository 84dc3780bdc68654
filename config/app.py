"""The Flask application factory."""

from __future__ import annotations

import ipaddress
import secrets

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from config.dependencies import Dependencies
from config.settings import Settings, SettingsError
from config.wiring import build_dependencies
from console.agents_api import bp as agents_api_bp
from console.api import bp as api_bp
from console.api_docs import bp as api_docs_bp
from console.callbacks_api import bp as callbacks_api_bp
from console.escalations_api import bp as escalations_api_bp
from console.ops import bp as ops_bp
from console.ops import install_request_metrics
from console.rosters_api import bp as rosters_api_bp
from ivr.agent_calls import bp as agent_calls_bp
from ivr.conference_calls import bp as conference_calls_bp
from ivr.live_callers import bp as live_callers_bp
from ivr.manager_calls import bp as manager_calls_bp
from ivr.status_callbacks import bp as status_bp
from ivr.webhooks import bp as ivr_bp


class _NoSessionForTwilio(SecureCookieSessionInterface):
    """Twilio's requests carry no cookie and the IVR keeps its state in the database: they get
    Flask's null session instead of a signing serializer built for every webhook."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith("/ivr/"):
            return None  # Flask substitutes its null session, which refuses to be written
        return super().open_session(app, request)


def create_app(settings: Settings, dependencies: Dependencies | None = None) -> Flask:
    """A hotline web app on ``dependencies`` (built from ``settings`` when not given).

    Refuses (``SettingsError``) without the Twilio auth token and public URL outside local mode:
    every way of serving (``hotline serve``, ``config.wsgi`` under any WSGI server) comes here.
    """
    problems = settings.startup_problems()
    if problems:
        raise SettingsError(problems)
    deps = dependencies or build_dependencies(settings)
    app = Flask("hotline")
    app.config.update(
        SECRET_KEY=settings.secret_key or secrets.token_hex(32),
        PUBLIC_BASE_URL=deps.public_base_url,
        TWILIO_WEBHOOK_TOKEN=settings.webhook_auth_token,
    )
    app.session_interface = _NoSessionForTwilio()
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented field order
    app.extensions["hotline"] = deps
    if settings.local_mode:
        app.before_request(_loopback_only)
    install_request_metrics(app)
    app.register_blueprint(ivr_bp)
    app.register_blueprint(status_bp)
    app.register_blueprint(live_callers_bp)
    app.register_blueprint(agent_calls_bp)
    app.register_blueprint(manager_calls_bp)
    app.register_blueprint(conference_calls_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(callbacks_api_bp)
    app.register_blueprint(escalations_api_bp)
    app.register_blueprint(api_docs_bp)
    app.register_blueprint(agents_api_bp)
    app.register_blueprint(rosters_api_bp)
    app.register_blueprint(ops_bp)
    return app


def _loopback_only() -> Response | None:
    """Local mode answers only this machine: its webhook token is published in the repository,
    so anybody who can reach the port could sign a webhook, whatever address was bound."""
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return Response("local mode serves this machine only\n", status=403, mimetype="text/plain")
