"""The callback queue's work for the worker: none yet; callback kinds are declared here."""

from __future__ import annotations

from db.jobs import DomainWork

WORK = DomainWork("callbacks")
