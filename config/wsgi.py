"""WSGI entry point for gunicorn: ``gunicorn 'config.wsgi:app'`` (settings from the environment)."""

from __future__ import annotations

from config.app import create_app
from config.logging import configure_logging
from config.settings import Settings

configure_logging()
app = create_app(Settings.from_env())
