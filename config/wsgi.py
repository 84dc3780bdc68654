"""WSGI entry point for gunicorn or uWSGI: ``gunicorn 'config.wsgi:app'``.

Settings come from the environment. Without TWILIO_AUTH_TOKEN and HOTLINE_PUBLIC_BASE_URL the
process refuses to start, naming each missing variable, unless HOTLINE_LOCAL_MODE=1 asks for
local development (loopback clients only, see README).
"""

from __future__ import annotations

import sys

from config.app import create_app
from config.logging import configure_logging
from config.settings import Settings, SettingsError

configure_logging()
try:
    app = create_app(Settings.from_env())
except SettingsError as exc:
    for problem in exc.problems:
        print(f"error: {problem}", file=sys.stderr)
    # Exit instead of a traceback: gunicorn then stops with "Worker failed to boot".
    raise SystemExit(1) from None
