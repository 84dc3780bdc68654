"""Domains declare their work; composing refuses what does not fit, binding fills in the ports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from db.jobs import (
    DomainWork,
    JobSpec,
    PeriodicSpec,
    WorkDeclarationError,
    bind,
    bind_all,
    compose,
    ports_of,
)
from db.work import ClaimedWork

NOW = datetime(2026, 11, 25, 10, 0, 7, tzinfo=UTC)


def no_delay(_attempt: int) -> timedelta:
    return timedelta(0)


def claimed(kind: str = "a.send") -> ClaimedWork:
    return ClaimedWork(1, kind, f"{kind}:1", {}, 1, 3, NOW, "worker")


def send(item: ClaimedWork, *, clock: object, messenger: object) -> bool:
    return (item.kind, clock, messenger) == ("a.send", "the clock", "the messenger")


def tidy(item: ClaimedWork) -> None:
    del item


def test_each_domains_kinds_and_periodic_work_are_composed() -> None:
    every = PeriodicSpec("b.tidy", every=timedelta(minutes=1))
    work = compose(
        [
            DomainWork("a", jobs=(JobSpec("a.send", send, no_delay),)),
            DomainWork("b", jobs=(JobSpec("b.tidy", tidy, no_delay),), periodic=(every,)),
            DomainWork("c"),
        ]
    )

    assert list(work.jobs) == ["a.send", "b.tidy"]
    assert work.periodic == (every,)


def test_a_kind_declared_by_two_domains_is_refused_naming_both() -> None:
    with pytest.raises(WorkDeclarationError, match=r"'a\.send' is declared twice: by a and by b"):
        compose(
            [
                DomainWork("a", jobs=(JobSpec("a.send", send, no_delay),)),
                DomainWork("b", jobs=(JobSpec("a.send", tidy, no_delay),)),
            ]
        )


def test_periodic_work_declared_twice_or_without_a_handler_is_refused() -> None:
    every = PeriodicSpec("b.tidy", every=timedelta(minutes=1))
    handled = DomainWork("b", jobs=(JobSpec("b.tidy", tidy, no_delay),), periodic=(every,))
    with pytest.raises(WorkDeclarationError, match=r"'b\.tidy' is declared twice: by b and by c"):
        compose([handled, DomainWork("c", periodic=(every,))])
    with pytest.raises(WorkDeclarationError, match=r"'b\.tidy' of c has no handler"):
        compose([DomainWork("c", periodic=(every,))])


def test_a_handlers_keyword_only_parameters_are_its_ports_and_are_bound_by_name() -> None:
    spec = JobSpec("a.send", send, no_delay)
    ports = {"clock": "the clock", "messenger": "the messenger", "mailer": "unused"}

    job = bind(spec, ports)

    assert ports_of(spec) == ("clock", "messenger")
    assert job.handle(claimed()) is True
    assert job.retry_delay is no_delay
    assert bind_all(compose([DomainWork("a", jobs=(spec,))]), ports)["a.send"].handle(claimed())


def test_a_port_the_worker_does_not_provide_is_refused_naming_the_kind_and_the_port() -> None:
    def page(item: ClaimedWork, *, clock: object, pager: object = None) -> None:
        del item, clock, pager

    spec = JobSpec("esc.page", page, no_delay)
    with pytest.raises(WorkDeclarationError) as refused:
        bind(spec, {"clock": "the clock", "dialer": "the dialer"})

    assert str(refused.value) == (
        "work kind 'esc.page' asks for port(s) 'pager', which the worker does not provide;"
        " it provides: clock, dialer"
    )


@pytest.mark.parametrize(
    "handler",
    [
        lambda item, clock: None,
        lambda item, **ports: None,
        lambda *items: None,
        lambda *, item: None,
    ],
    ids=["positional-port", "kwargs", "args", "no-positional"],
)
def test_a_handler_whose_ports_cannot_be_bound_by_name_is_refused(handler: object) -> None:
    with pytest.raises(WorkDeclarationError, match=r"work kind 'a\.odd'"):
        ports_of(JobSpec("a.odd", handler, no_delay))  # type: ignore[arg-type]


def test_a_periodic_row_key_names_the_period_so_every_insert_in_it_is_the_same_row() -> None:
    every = PeriodicSpec("calls.settle_quiet", every=timedelta(seconds=15))
    bucket = int(NOW.timestamp()) // 15

    assert every.row_key(NOW) == f"calls.settle_quiet:{bucket}"
    assert every.row_key(NOW + timedelta(seconds=7)) == every.row_key(NOW)
    assert every.row_key(NOW + timedelta(seconds=8)) == f"calls.settle_quiet:{bucket + 1}"
    daily = PeriodicSpec("r.daily", every=timedelta(hours=1), period_key=lambda now: f"d:{now:%F}")
    assert daily.row_key(NOW) == "d:2026-11-25"


@pytest.mark.parametrize("every", [timedelta(0), timedelta(seconds=1.5)])
def test_a_period_must_be_whole_seconds(every: timedelta) -> None:
    with pytest.raises(WorkDeclarationError, match="whole seconds"):
        PeriodicSpec("a.tick", every=every)
