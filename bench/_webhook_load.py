"""Load for the webhook benchmark: simulated callers in several processes, threads in each.

Every caller is one thread with its own keep-alive HTTP connection, driving
:class:`ivr.call_walker.CallWalker` (signed like Twilio, following the TwiML). A phase runs in
forked processes so the generator is not held back by one GIL; each process reports the
webhooks and calls that finished inside the measurement window and the CPU it used meanwhile.
"""

from __future__ import annotations

import contextlib
import http.client
import multiprocessing
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from ivr.call_walker import CallWalker, Listening, WalkerError

Scenario = Literal["calls", "first", "start"]

# A complete call answers about a dozen questions; far more means the script is looping.
MAX_ANSWERS_PER_CALL = 40
HTTP_TIMEOUT_SECONDS = 15.0  # Twilio waits 15 s for a webhook, then uses the fallback URL
ERROR_SAMPLES = 5


@dataclass(frozen=True)
class CallerProfile:
    """Who calls which regional number, and what they answer."""

    to: str
    from_prefix: str
    customer_number: str
    name: str
    description: str


PROFILES: tuple[CallerProfile, ...] = (
    # NSX, production, no e-mail on record: 24x7 line, no answer-channel question.
    CallerProfile(
        to="+498001006711",
        from_prefix="+49151123456",
        customer_number="4711002",
        name="Erika Mustermann",
        description="Der vCenter-Server startet nach dem Update nicht mehr.",
    ),
    # vSphere, production, e-mail on record: 24x7 line, answer-channel question asked.
    CallerProfile(
        to="+18005550199",
        from_prefix="+120255501",
        customer_number="5550001",
        name="John Smith",
        description="Our ESXi hosts lost their storage paths after a firmware upgrade.",
    ),
)

# Keypad answers by the step named in the question's action URL; speech comes from the profile.
KEYS_BY_STEP: dict[str, str] = {
    "menu": "1",  # new request
    "product_choice": "1",
    "sr_action": "1",
    "callback_number": "1",  # the caller ID
    "sr_reference": "#",  # no earlier SR
    "consent": "2",  # no recording
    "answer_channel": "1",  # by phone
    "readback": "2",  # no repeat: goodbye
}


class CallFailed(Exception):
    """The call did not go as a message-taking call should (fallback TwiML, loop, no SR)."""


class _Stop(Exception):
    """The phase is over: the caller stops before sending anything else."""


@dataclass(frozen=True)
class PhaseSpec:
    """What one load process does during a phase (times are ``time.monotonic()`` values)."""

    base_url: str
    auth_token: str
    scenario: Scenario
    callers: range  # global caller indexes run by this process
    total_callers: int
    start_at: float
    measure_from: float
    measure_until: float
    interval: float | None = None  # open-loop pacing: one webhook per caller every N s


@dataclass
class PhaseStats:
    """What finished inside the measurement window (merged over processes by the parent)."""

    latencies: list[float] = field(default_factory=list)  # send to answer, seconds
    intended_latencies: list[float] = field(default_factory=list)  # paced: from the planned send
    webhooks: int = 0
    calls: int = 0
    call_webhooks: int = 0  # webhooks of the calls counted in ``calls``
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    generator_cpu_seconds: float = 0.0

    def merge(self, other: PhaseStats) -> None:
        self.latencies.extend(other.latencies)
        self.intended_latencies.extend(other.intended_latencies)
        self.webhooks += other.webhooks
        self.calls += other.calls
        self.call_webhooks += other.call_webhooks
        self.errors += other.errors
        room = ERROR_SAMPLES - len(self.error_samples)
        self.error_samples.extend(other.error_samples[: max(0, room)])
        self.generator_cpu_seconds += other.generator_cpu_seconds


class _Recorder:
    """Per-thread results; the process adds them up after the threads have stopped."""

    def __init__(self, spec: PhaseSpec) -> None:
        self.spec = spec
        self.stats = PhaseStats()

    def in_window(self, instant: float) -> bool:
        return self.spec.measure_from <= instant <= self.spec.measure_until

    def webhook(self, end: float, latency: float, intended_latency: float | None) -> None:
        if self.in_window(end):
            self.stats.webhooks += 1
            self.stats.latencies.append(latency)
            if intended_latency is not None:
                self.stats.intended_latencies.append(intended_latency)

    def call(self, end: float, webhooks: int) -> None:
        if self.in_window(end):
            self.stats.calls += 1
            self.stats.call_webhooks += webhooks

    def error(self, exc: BaseException) -> None:
        self.stats.errors += 1
        if len(self.stats.error_samples) < ERROR_SAMPLES:
            self.stats.error_samples.append(f"{type(exc).__name__}: {exc}"[:300])


class KeepAliveTransport:
    """``CallWalker`` transport over one persistent HTTP/1.1 connection, timed and paced."""

    def __init__(
        self,
        base_url: str,
        recorder: _Recorder,
        *,
        first_slot: float | None = None,
        interval: float | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.recorder = recorder
        self.interval = interval
        self.next_slot = first_slot
        self.previous_end = 0.0
        self.connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def __call__(self, url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        until = self.recorder.spec.measure_until
        intended: float | None = None
        if self.interval is not None and self.next_slot is not None:
            slot = self.next_slot
            self.next_slot = slot + self.interval
            now = time.monotonic()
            if slot >= until:
                raise _Stop
            if now < slot:
                time.sleep(slot - now)
            # Open loop: a send delayed by the previous answer counts from its planned time
            # (no coordinated omission); the generator's own wake-up jitter does not.
            intended = slot if self.previous_end > slot else None
        elif time.monotonic() >= until:
            raise _Stop
        parts = urlsplit(url)
        target = f"{parts.path}?{parts.query}" if parts.query else parts.path
        body = urlencode(form)
        request_headers = {
            **headers,
            "Content-Type": "application/x-www-form-urlencoded",
            "Connection": "keep-alive",
        }
        start = time.monotonic()
        status, text = self._send(target, body, request_headers)
        end = time.monotonic()
        self.previous_end = end
        self.recorder.webhook(
            end, end - start, end - (intended or start) if self.interval else None
        )
        return status, text

    def _send(self, target: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
        reused = self.connection is not None
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=HTTP_TIMEOUT_SECONDS
                )
            try:
                self.connection.request("POST", target, body=body, headers=headers)
                response = self.connection.getresponse()
                text = response.read().decode("utf-8", errors="replace")
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection; once more on a new one.
                self.close()
                if attempt == 2 or not reused:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, text
        raise AssertionError("unreachable")


def _step_of(listening: Listening) -> str:
    query = urlsplit(listening.action).query
    return parse_qs(query).get("step", [""])[0]


def walk_complete_call(walker: CallWalker, profile: CallerProfile) -> None:
    """Dial and answer every question generically until the SR is read back and the call ends."""
    walker.dial()
    heard_readback = False
    for _ in range(MAX_ANSWERS_PER_CALL):
        if walker.ended:
            break
        listening = walker.listening
        if listening is None:
            raise CallFailed("the call neither asks anything nor ended")
        if "/ivr/fallback" in listening.action:
            raise CallFailed(f"fallback TwiML (the app failed): heard {walker.heard[-1:]}")
        if listening.in_queue:
            walker.press("1")  # on hold: a callback instead, keeping the place
            continue
        step = _step_of(listening)
        heard_readback = heard_readback or step == "readback"
        if "speech" in listening.inputs:
            walker.say(profile.description if step == "description" else profile.name)
        elif step == "customer_number":
            walker.press(profile.customer_number + "#")
        elif step in KEYS_BY_STEP:
            walker.press(KEYS_BY_STEP[step])
        else:
            walker.silence()
    else:
        raise CallFailed(f"no end after {MAX_ANSWERS_PER_CALL} answers: {walker.requests[-1][0]}")
    if not heard_readback:
        raise CallFailed(f"ended without an SR number read back: heard {walker.heard[-2:]}")


def walk_first_webhook(walker: CallWalker) -> None:
    """Only the first POST /ivr/voice of a new call; the caller then vanishes."""
    walker.dial()
    listening = walker.listening
    if listening is None or "/ivr/fallback" in listening.action:
        raise CallFailed(f"the greeting asked no question: heard {walker.heard[-2:]}")


def walk_call_start(walker: CallWalker) -> None:
    """The greeting and the first answer (1, a new request), which stores the call."""
    walk_first_webhook(walker)
    walker.press("1")
    listening = walker.listening
    if listening is None or "/ivr/fallback" in listening.action:
        raise CallFailed(f"the first answer asked no question: heard {walker.heard[-2:]}")


def _caller(spec: PhaseSpec, index: int, recorder: _Recorder) -> None:
    profile = PROFILES[index % len(PROFILES)]
    first_slot = None
    if spec.interval is not None:
        first_slot = spec.start_at + spec.interval * index / spec.total_callers
    transport = KeepAliveTransport(
        spec.base_url, recorder, first_slot=first_slot, interval=spec.interval
    )
    delay = spec.start_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    number = 0
    try:
        while time.monotonic() < spec.measure_until:
            number += 1
            walker = CallWalker(
                transport=transport,
                base_url=spec.base_url,
                auth_token=spec.auth_token,
                to=profile.to,
                from_=f"{profile.from_prefix}{(index * 7 + number) % 100:02d}",
            )
            try:
                if spec.scenario == "first":
                    walk_first_webhook(walker)
                elif spec.scenario == "start":
                    walk_call_start(walker)
                else:
                    walk_complete_call(walker, profile)
            except _Stop:
                break
            except (CallFailed, WalkerError, OSError, http.client.HTTPException) as exc:
                recorder.error(exc)
                transport.close()
                continue
            recorder.call(time.monotonic(), len(walker.requests))
    finally:
        transport.close()


def _sleep_until(instant: float) -> None:
    delay = instant - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _run_process(spec: PhaseSpec, results: multiprocessing.Queue[PhaseStats]) -> None:
    # The parent handles Ctrl-C and stops us; a traceback per process would only be noise.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    recorders = [_Recorder(spec) for _ in spec.callers]
    threads = [
        threading.Thread(target=_caller, args=(spec, index, recorder), daemon=True)
        for index, recorder in zip(spec.callers, recorders, strict=True)
    ]
    for thread in threads:
        thread.start()
    _sleep_until(spec.measure_from)
    cpu_from = time.process_time()
    _sleep_until(spec.measure_until)
    cpu_used = time.process_time() - cpu_from
    for thread in threads:
        thread.join(timeout=HTTP_TIMEOUT_SECONDS + 5)
    total = PhaseStats(generator_cpu_seconds=cpu_used)
    for recorder in recorders:
        total.merge(recorder.stats)
    results.put(total)


@dataclass(frozen=True)
class Phase:
    """One load phase as the parent plans it."""

    base_url: str
    auth_token: str
    scenario: Scenario
    callers: int
    warmup: float
    duration: float
    interval: float | None = None


def run_phase(
    phase: Phase, *, processes: int, on_window: Callable[[str], None] | None = None
) -> PhaseStats:
    """Run ``phase`` over ``processes`` forked load processes; ``on_window('start'|'end')``."""
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[PhaseStats] = context.Queue()
    processes = max(1, min(processes, phase.callers))
    start_at = time.monotonic() + 0.3
    measure_from = start_at + phase.warmup
    measure_until = measure_from + phase.duration
    workers = []
    for part in range(processes):
        spec = PhaseSpec(
            base_url=phase.base_url,
            auth_token=phase.auth_token,
            scenario=phase.scenario,
            callers=range(part, phase.callers, processes),
            total_callers=phase.callers,
            start_at=start_at,
            measure_from=measure_from,
            measure_until=measure_until,
            interval=phase.interval,
        )
        workers.append(context.Process(target=_run_process, args=(spec, results), daemon=True))
    finished = False
    try:
        for worker in workers:
            worker.start()
        _sleep_until(measure_from)
        if on_window is not None:
            on_window("start")
        _sleep_until(measure_until)
        if on_window is not None:
            on_window("end")
        total = PhaseStats()
        deadline = measure_until + HTTP_TIMEOUT_SECONDS + 15
        for _ in workers:
            try:
                total.merge(results.get(timeout=max(1.0, deadline - time.monotonic())))
            except queue.Empty:
                total.errors += 1
                total.error_samples.append("a load process did not report in time")
        finished = True
        return total
    finally:
        for worker in workers:
            if finished:
                worker.join(timeout=2)
            if worker.is_alive():
                worker.kill()
                with contextlib.suppress(Exception):
                    worker.join(timeout=2)
