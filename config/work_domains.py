"""Which domains' work the worker runs, and the ports (from ``Dependencies``) it binds them to."""

from __future__ import annotations

from collections.abc import Iterable

from callbacks import jobs as callbacks_jobs
from config.dependencies import Dependencies
from db.jobs import ComposedWork, DomainWork, check_ports, compose
from escalations import jobs as escalations_jobs
from intake import jobs as intake_jobs

# Every domain's work. A domain adds a kind or periodic work in its own ``jobs`` module; only a
# new domain is added here.
DOMAIN_WORK: tuple[DomainWork, ...] = (
    intake_jobs.WORK,
    callbacks_jobs.WORK,
    escalations_jobs.WORK,
)

# The ports a handler may name (keyword-only parameters), taken from ``Dependencies``. Settings
# and the engine are not ports: handlers open transactions through ``session_factory``.
PORTS = (
    "session_factory",
    "clock",
    "catalog",
    "messenger",
    "mailer",
    "dialer",
    "scheduler",
    "public_base_url",
    "spool",
)


def worker_ports(deps: Dependencies) -> dict[str, object]:
    """This process's ports by the names handlers use."""
    return {name: getattr(deps, name) for name in PORTS}


def domain_work(domains: Iterable[DomainWork] | None = None) -> ComposedWork:
    """The domains' work (all of ``DOMAIN_WORK`` by default) composed and checked against the
    ports; raises WorkDeclarationError.

    Needs no dependencies, so ``hotline serve --with-worker`` can check before it forks.
    """
    work = compose(DOMAIN_WORK if domains is None else domains)
    check_ports(work, PORTS)
    return work
