"""What a domain's ``jobs`` module declares about its work, and how the worker puts it together.

Each domain exports one ``DomainWork``: its kinds (handler, retry spacing, give-up hook) and its
periodic work (a row inserted once per period). A handler names the ports it needs as
keyword-only parameters, ``handle(item, *, session_factory, clock, messenger)``; the worker
(``config.worker``) composes every domain's declaration and binds those names to its process's
ports, so a domain adds a kind without touching the worker. Mistakes (a kind declared twice, a
port nobody provides, periodic work without a handler) are refused when the worker starts, never
discovered when the first row of that kind comes due.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Concatenate

from db.work import ClaimedWork, GiveUpHook

# ``handle(item, *, <ports>)``: True when it completed its row itself (see ``Job``).
Handler = Callable[Concatenate[ClaimedWork, ...], bool | None]


class WorkDeclarationError(Exception):
    """The domains' work does not fit together (a duplicate kind, an unknown port...)."""


@dataclass(frozen=True)
class JobSpec:
    """One kind of work as a domain declares it: who handles it, how retries are spaced."""

    kind: str
    handle: Handler
    retry_delay: Callable[[int], timedelta]
    on_give_up: GiveUpHook | None = None
    # A periodic check that runs whether or not anything needs doing: its completion is logged
    # at DEBUG (its handler logs at INFO whatever it did).
    routine: bool = False


@dataclass(frozen=True)
class PeriodicSpec:
    """Work of ``kind`` inserted once per period; the row key makes extra inserts no-ops.

    ``period_key`` names the period ``now`` falls in; by default the ``every``-long slice of
    Unix time, so any number of workers (each inserting on its own timer) insert one row.
    """

    kind: str
    every: timedelta
    priority: int = 100
    max_attempts: int = 1
    period_key: Callable[[datetime], str] | None = None

    def __post_init__(self) -> None:
        seconds = self.every.total_seconds()
        if seconds < 1 or seconds != int(seconds):
            raise WorkDeclarationError(
                f"periodic work {self.kind!r}: the period must be whole seconds, got {self.every}"
            )

    def row_key(self, now: datetime) -> str:
        """The unique key of this period's row."""
        if self.period_key is not None:
            return self.period_key(now)
        return f"{self.kind}:{int(now.timestamp()) // int(self.every.total_seconds())}"


@dataclass(frozen=True)
class LocalSpec:
    """Work every worker process runs on its own timer, about what only its host holds.

    No work row: a row is claimed by whichever worker comes first, on any host, while this
    work is about files on the worker's own disk (the spool of numbers kept while the database
    was away), which those files keep durably. ``run(*, <ports>)`` must be idempotent.
    """

    name: str
    run: Callable[..., object]
    every: timedelta


@dataclass(frozen=True)
class DomainWork:
    """Everything one domain gives the worker to run."""

    domain: str
    jobs: tuple[JobSpec, ...] = ()
    periodic: tuple[PeriodicSpec, ...] = ()
    local: tuple[LocalSpec, ...] = ()


@dataclass(frozen=True)
class ComposedWork:
    """Every domain's work, checked to fit together: kind -> spec, and the periodic work."""

    jobs: Mapping[str, JobSpec] = field(default_factory=dict)
    periodic: tuple[PeriodicSpec, ...] = ()
    local: tuple[LocalSpec, ...] = ()


@dataclass(frozen=True)
class Job:
    """How to run one kind of work, its ports bound, and how long to wait before a retry.

    ``handle`` returns True when it marked its row done itself, in the transaction that recorded
    its effect (``db.work.complete``); the worker then skips its own, redundant completion.
    ``on_give_up`` runs in the transaction that fails the row for good (final attempt, permanent
    failure, or a lease that expired on the final attempt), to settle what the work was about.
    """

    handle: Callable[[ClaimedWork], bool | None]
    retry_delay: Callable[[int], timedelta]
    on_give_up: GiveUpHook | None = None
    # A periodic check that runs whether or not anything needs doing: its completion is logged
    # at DEBUG (its handler logs at INFO whatever it did).
    routine: bool = False


def compose(domains: Iterable[DomainWork]) -> ComposedWork:
    """Put the domains' work together; raises ``WorkDeclarationError`` when it does not fit."""
    jobs: dict[str, JobSpec] = {}
    owner: dict[str, str] = {}
    periodic: dict[str, PeriodicSpec] = {}
    periodic_owner: dict[str, str] = {}
    local: dict[str, LocalSpec] = {}
    for work in domains:
        for own in work.local:
            if own.name in local:
                raise WorkDeclarationError(f"local work {own.name!r} is declared twice")
            local[own.name] = own
        for spec in work.jobs:
            if spec.kind in owner:
                raise WorkDeclarationError(
                    f"work kind {spec.kind!r} is declared twice: by {owner[spec.kind]} "
                    f"and by {work.domain}"
                )
            jobs[spec.kind] = spec
            owner[spec.kind] = work.domain
        for every in work.periodic:
            if every.kind in periodic:
                raise WorkDeclarationError(
                    f"periodic work {every.kind!r} is declared twice: by "
                    f"{periodic_owner[every.kind]} and by {work.domain}"
                )
            periodic[every.kind] = every
            periodic_owner[every.kind] = work.domain
    for kind, domain in periodic_owner.items():
        if kind not in jobs:
            raise WorkDeclarationError(
                f"periodic work {kind!r} of {domain} has no handler: no domain declares that kind"
            )
    return ComposedWork(jobs=jobs, periodic=tuple(periodic.values()), local=tuple(local.values()))


def ports_of(spec: JobSpec) -> tuple[str, ...]:
    """The ports ``spec``'s handler asks for: every keyword-only parameter, by name.

    A keyword-only parameter with a default is a port too: a misspelt port name must not
    quietly run with the default. The claimed work is the one positional parameter; anything
    else (more positional parameters, ``*args``, ``**kwargs``) could not be bound by name.
    """
    try:
        parameters = list(inspect.signature(spec.handle).parameters.values())
    except (TypeError, ValueError) as exc:
        raise WorkDeclarationError(
            f"work kind {spec.kind!r}: cannot read its handler's parameters ({exc})"
        ) from exc
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not parameters or parameters[0].kind not in positional:
        raise WorkDeclarationError(
            f"work kind {spec.kind!r}: its handler must take the claimed work as its first, "
            "positional parameter"
        )
    ports: list[str] = []
    for parameter in parameters[1:]:
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            ports.append(parameter.name)
        elif parameter.default is inspect.Parameter.empty:  # also *args and **kwargs
            raise WorkDeclarationError(
                f"work kind {spec.kind!r}: its handler's parameter {parameter.name!r} must be "
                "keyword-only and name a port (`def handle(item, *, clock, ...)`)"
            )
    return tuple(ports)


def check_ports(work: ComposedWork, provided: Collection[str]) -> None:
    """Refuse (``WorkDeclarationError``) a handler that asks for a port not in ``provided``."""
    for spec in work.jobs.values():
        _bindable_ports(spec, provided)
    for local in work.local:
        bind_local(local, provided_names(provided))


def provided_names(provided: Collection[str]) -> Mapping[str, object]:
    """Port names standing in for their values, to check a binding without the values."""
    return dict.fromkeys(provided)


def bind_local(spec: LocalSpec, ports: Mapping[str, object]) -> Callable[[], object]:
    """``spec.run`` with every keyword-only parameter bound from ``ports`` (all of them ports)."""
    parameters = inspect.signature(spec.run).parameters.values()
    wanted = []
    for parameter in parameters:
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            raise WorkDeclarationError(
                f"local work {spec.name!r}: every parameter must be keyword-only and name a port"
            )
        wanted.append(parameter.name)
    unknown = [name for name in wanted if name not in ports]
    if unknown:
        raise WorkDeclarationError(
            f"local work {spec.name!r} asks for port(s) {', '.join(map(repr, unknown))}, which "
            f"the worker does not provide; it provides: {', '.join(sorted(ports))}"
        )
    return partial(spec.run, **{name: ports[name] for name in wanted})


def bind(spec: JobSpec, ports: Mapping[str, object]) -> Job:
    """``spec`` with each port its handler names bound from ``ports``.

    A name ``ports`` lacks raises ``WorkDeclarationError`` naming the kind and the port.
    """
    wanted = _bindable_ports(spec, ports)
    handle = partial(spec.handle, **{name: ports[name] for name in wanted})
    return Job(handle, spec.retry_delay, on_give_up=spec.on_give_up, routine=spec.routine)


def bind_all(work: ComposedWork, ports: Mapping[str, object]) -> dict[str, Job]:
    """Every kind of ``work`` bound to ``ports``; raises on the first kind that cannot be."""
    return {kind: bind(spec, ports) for kind, spec in work.jobs.items()}


def _bindable_ports(spec: JobSpec, provided: Collection[str]) -> tuple[str, ...]:
    wanted = ports_of(spec)
    unknown = [name for name in wanted if name not in provided]
    if unknown:
        raise WorkDeclarationError(
            f"work kind {spec.kind!r} asks for port(s) {', '.join(map(repr, unknown))}, which "
            f"the worker does not provide; it provides: {', '.join(sorted(provided))}"
        )
    return wanted
