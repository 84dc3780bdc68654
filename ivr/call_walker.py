"""A terminal phone: walks a hotline's TwiML exactly as Twilio would, with signed requests.

Used by ``hotline call`` (try the IVR without a Twilio account) and by the end-to-end tests.
It implements the verbs the hotline answers with: Say, Play, Pause, Gather (keypad and speech),
Redirect, Hangup, Enqueue with its wait URL and Leave, Dial (a number, or a queue), and
Start/Recording; at the end of the call it posts the recording and call status callbacks Twilio
would post. A document that ends in a <Pause> and a <Redirect> is a round of a hold (the
escalation hold): the walker stops there (``holding``) until the caller holds on (``hold``,
after whatever the driver lets happen meanwhile: a duty manager accepting, time passing) or
hangs up; it never waits itself.

It also answers a call the hotline placed (``answer``: an agent's phone, used by ``hotline
answer``); plays the person dialled by ``<Dial><Number url=...>`` through ``callee`` (a person,
an answering machine, a busy line or no answer); lets an agent's ``<Dial><Queue>`` take a
caller walking the hold loop (``queue_callers``, ``dequeue``); and stays in a
``<Dial><Conference>`` until it hangs up, posting the conference's events
(``ivr.walker_conference``).
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin

from twilio.request_validator import RequestValidator

from ivr.walker_conference import ConferenceRoom, InConference, join_conference, leave_conference

# (url, form) -> (status code, body); signing is done by the walker.
Transport = Callable[[str, dict[str, str], dict[str, str]], tuple[int, str]]

# Twilio caps a call's time in the queue; the walker gives up on the hold loop after this.
MAX_QUEUE_SECONDS = 3600
# A rough length of one spoken announcement, to advance the simulated time in the queue.
SAY_SECONDS = 5
# How long a simulated conversation with a dialled person lasts.
TALK_SECONDS = 60
# What the dialled person's phone does (``CallWalker.callee``).
CALLEE_OUTCOMES = ("human", "machine", "busy", "no-answer")
# Answers by machine detection (AnsweredBy) for each outcome that picks up.
_ANSWERED_BY = {"human": "human", "machine": "machine_start"}


class WalkerError(Exception):
    """The server answered something Twilio would not accept (an error page, bad TwiML)."""


class ConnectionDropped(WalkerError):
    """The server closed or reset the connection without answering, on the retry too."""


@dataclass
class Listening:
    """A <Gather> waiting for the caller."""

    action: str
    inputs: frozenset[str]
    num_digits: int | None
    finish_on_key: str
    action_on_empty: bool
    rest: list[ET.Element]
    timeout: int = 5
    in_queue: bool = False


@dataclass(frozen=True)
class Holding:
    """A round of a hold: the caller hears ``seconds`` of silence, then Twilio asks ``url``."""

    seconds: int
    url: str


@dataclass
class CallWalker:
    """One simulated inbound call to ``to`` from ``from_``."""

    transport: Transport
    base_url: str
    auth_token: str
    to: str
    from_: str
    account_sid: str = "AC00000000000000000000000000000000"
    call_sid: str = field(default_factory=lambda: "CA" + secrets.token_hex(16))
    heard: list[str] = field(default_factory=list)
    listening: Listening | None = None
    # A hold round's pause the caller is in (``hold`` goes on to the next round).
    holding: Holding | None = None
    ended: bool = False
    recording_started: bool = False
    seconds: int = 0
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    # The body answered to each of ``requests``, in the same order.
    responses: list[str] = field(default_factory=list)
    # The place in the queue Twilio reports while this caller is on hold.
    queue_position: int = 1
    # Finds the caller waiting in the named queue, for this walker's <Dial><Queue>; without it
    # (the terminal phone) every queue dialled is empty.
    queue_callers: Callable[[str], CallWalker | None] | None = None
    # "inbound", or "outbound-api" for a call the hotline placed (``answer``).
    direction: str = "inbound"
    # Where an answered outbound call posts its status at the end; None: nowhere (an inbound
    # call posts to ``/ivr/status``).
    status_callback: str | None = None
    # Plays the person a <Dial><Number> rings: given the number, one of ``CALLEE_OUTCOMES``.
    # None: a <Dial> is not answered (the terminal phone cannot ring a real line).
    callee: Callable[[str], str] | None = None
    # Conferences by name; walkers given the same dict are in the same conferences.
    conference_rooms: dict[str, ConferenceRoom] = field(default_factory=dict)
    # The clock conference events are stamped with (Timestamp); None: they carry none.
    clock: Callable[[], datetime] | None = None
    _conference: InConference | None = None
    _queue: dict[str, str] | None = None
    _queue_seconds: int = 0

    # -- signed requests ----------------------------------------------------------------------

    def _absolute(self, url: str) -> str:
        return urljoin(self.base_url + "/", url)

    def post(self, url: str, params: dict[str, str]) -> str:
        """POST a signed webhook like Twilio and return the body (TwiML or empty)."""
        url = self._absolute(url)
        form = {
            "AccountSid": self.account_sid,
            "CallSid": self.call_sid,
            "From": self.from_,
            "To": self.to,
            "Direction": self.direction,
            "ApiVersion": "2010-04-01",
            "CallStatus": "in-progress",
            **params,
        }
        signature = RequestValidator(self.auth_token).compute_signature(url, form)
        self.requests.append((url, form))
        status, body = self.transport(url, form, {"X-Twilio-Signature": signature})
        self.responses.append(body)
        if status >= 400:
            raise WalkerError(f"{url} answered {status}: {body[:200]}")
        return body

    # -- the caller's actions -----------------------------------------------------------------

    def dial(self, url: str | None = None) -> list[str]:
        """Place the call (to the number whose voice webhook is ``url``, the hotline's by
        default); returns what the caller hears until the first question."""
        body = self.post(url or f"{self.base_url}/ivr/voice", {"CallStatus": "ringing"})
        return self._run_document(body)

    def answer(self, url: str, *, answered_by: str | None = None) -> list[str]:
        """Pick up a call the hotline placed, whose TwiML is at ``url``; returns what is heard
        until the first question. ``answered_by``: what machine detection says (AnsweredBy)."""
        self.direction = "outbound-api"
        params = {"CallStatus": "in-progress"}
        if answered_by is not None:
            params["AnsweredBy"] = answered_by
        return self._run_document(self.post(url, params))

    def dequeue(self, *, by: str, url: str | None = None) -> list[str]:
        """An agent's call ``by`` took this caller from the queue: the Queue noun's ``url`` is
        fetched on this caller's side, then the queue's result is "bridged" (the talk itself,
        and its end, are left out: the Enqueue action is posted at once)."""
        if self.ended or self._queue is None:
            raise WalkerError("the call is not waiting in a queue")
        start = len(self.heard)
        self.listening = None
        self.heard.append("[connected to an agent]")
        if url:
            params = {**self._queue_params(), "DequeingCallSid": by}
            self._parse(self.post(url, params))
        self._leave_queue("bridged")
        return self.heard[start:]

    def not_answered(self, call_status: str = "no-answer") -> None:
        """Let a call the hotline placed ring out (or be busy): only its status is posted."""
        self.direction = "outbound-api"
        self.ended = True
        self.listening = None
        if self.status_callback is not None:
            self.post(self.status_callback, {"CallStatus": call_status, "CallDuration": "0"})

    def press(self, keys: str) -> list[str]:
        """Type ``keys`` on the keypad (a trailing # ends the entry)."""
        gather = self._require("dtmf")
        digits = keys
        if gather.finish_on_key and digits.endswith(gather.finish_on_key):
            digits = digits[: -len(gather.finish_on_key)]
        if gather.num_digits is not None:
            digits = digits[: gather.num_digits]
        if not digits and not gather.action_on_empty:
            return self.silence()
        return self._answer(gather, {"Digits": digits})

    def say(self, text: str, confidence: float = 0.92) -> list[str]:
        """Speak ``text`` (as the speech recogniser would transcribe it)."""
        gather = self._require("speech")
        if not text.strip():
            return self.silence()
        return self._answer(gather, {"SpeechResult": text, "Confidence": f"{confidence:.2f}"})

    def silence(self) -> list[str]:
        """Say nothing until the <Gather> times out."""
        gather = self._require(None)
        self.listening = None
        self.seconds += gather.timeout
        if gather.action_on_empty:
            return self._answer(gather, {"Digits": ""})
        if gather.in_queue:
            return self._continue_queue(gather.rest)
        return self._run_verbs(gather.rest)

    def hold(self) -> list[str]:
        """Stay on the line through the hold round's pause; returns what is heard next."""
        if self.ended or self.holding is None:
            raise WalkerError("the call is not on hold")
        holding, self.holding = self.holding, None
        self.seconds += holding.seconds
        return self._run_document(self.post(holding.url, {}))

    def hang_up(self) -> None:
        """Put the phone down; Twilio then posts the recording and call status callbacks."""
        if not self.ended:
            self._end_call()

    # -- TwiML ----------------------------------------------------------------------------------

    def _require(self, kind: str | None) -> Listening:
        if self.ended or self.listening is None:
            raise WalkerError("the call is not waiting for input")
        if kind is not None and kind not in self.listening.inputs:
            raise WalkerError(
                f"the call is listening for {sorted(self.listening.inputs)}, not {kind}"
            )
        return self.listening

    def _answer(self, gather: Listening, params: dict[str, str]) -> list[str]:
        self.listening = None
        self.seconds += 3
        if gather.in_queue:
            body = self.post(gather.action, {**self._queue_params(), **params})
            return self._continue_queue(self._parse(body))
        return self._run_document(self.post(gather.action, params))

    def _parse(self, body: str) -> list[ET.Element]:
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise WalkerError(f"not TwiML: {exc}: {body[:200]!r}") from exc
        if root.tag != "Response":
            raise WalkerError(f"TwiML must be a <Response>, got <{root.tag}>")
        if len(body.encode()) > 64 * 1024:
            raise WalkerError("TwiML over 64 kB: Twilio would end the call")
        return list(root)

    def _run_document(self, body: str) -> list[str]:
        start = len(self.heard)
        self._run_verbs(self._parse(body))
        return self.heard[start:]

    def _run_verbs(self, verbs: list[ET.Element]) -> list[str]:
        start = len(self.heard)
        for index, verb in enumerate(verbs):
            rest = verbs[index + 1 :]
            if verb.tag == "Pause" and [v.tag for v in rest] == ["Redirect"]:
                # A hold round: the caller waits out the pause before the next is asked for.
                length = int(verb.get("length", "1"))
                self.holding = Holding(seconds=length, url=rest[0].text or "")
                return self.heard[start:]
            if self._verb(verb, rest):
                return self.heard[start:]
        # Twilio hangs up when a document runs out of verbs.
        if not self.ended and self.listening is None:
            self._end_call()
        return self.heard[start:]

    def _verb(self, verb: ET.Element, rest: list[ET.Element]) -> bool:
        """Run one verb; True when control left this document (question, redirect, end)."""
        tag = verb.tag
        if tag == "Say":
            self.heard.append((verb.text or "").strip())
            self.seconds += SAY_SECONDS
        elif tag == "Play":
            self.heard.append("[music]")
            self.seconds += 30
        elif tag == "Pause":
            self.seconds += int(verb.get("length", "1"))
        elif tag == "Start":
            for child in verb:
                if child.tag == "Recording":
                    self.recording_started = True
                    self.heard.append("[recording started]")
        elif tag == "Gather":
            for child in verb:
                self._verb(child, [])
            self.listening = Listening(
                action=verb.get("action") or "",
                inputs=frozenset((verb.get("input") or "dtmf").split()),
                num_digits=int(verb.get("numDigits") or 0) or None,
                finish_on_key=verb.get("finishOnKey", "#"),
                action_on_empty=verb.get("actionOnEmptyResult") == "true",
                rest=rest,
                timeout=int(verb.get("timeout") or 5),
            )
            return True
        elif tag == "Redirect":
            self._run_document(self.post(verb.text or "", {}))
            return True
        elif tag == "Hangup":
            self._end_call()
            return True
        elif tag == "Enqueue":
            self._enqueue(verb)
            return True
        elif tag == "Dial" and verb.find("Queue") is not None:
            return self._dial_queue(verb)
        elif tag == "Dial" and (conference := verb.find("Conference")) is not None:
            self.heard.append(f"[in conference {(conference.text or '').strip()}]")
            self._conference = join_conference(
                conference,
                call_sid=self.call_sid,
                rooms=self.conference_rooms,
                post=self.post,
                clock=self.clock,
            )
            return True
        elif tag == "Dial":
            number = verb.find("Number")
            if number is not None and self.callee is not None:
                self._dial_number(verb, number)
                return True
            self.heard.append("[ringing the agent line: no answer in the terminal phone]")
            action = verb.get("action")
            if action:
                self._run_document(
                    self.post(action, {"DialCallStatus": "no-answer", "DialCallDuration": "0"})
                )
            return True
        else:
            raise WalkerError(f"unsupported TwiML verb <{tag}>")
        return False

    def _dial_queue(self, verb: ET.Element) -> bool:
        """<Dial><Queue>: bridge the queue's waiting caller, or wait out the timeout."""
        queue = verb.find("Queue")
        assert queue is not None
        name = (queue.text or "").strip()
        caller = self.queue_callers(name) if self.queue_callers is not None else None
        if caller is not None and caller._queue is not None and not caller.ended:
            self.heard.append(f"[connected to the caller waiting in queue {name}]")
            caller.dequeue(by=self.call_sid, url=queue.get("url"))
            status = "completed"
        else:
            self.heard.append(f"[nobody joined queue {name}]")
            self.seconds += int(verb.get("timeout") or 30)
            status = "no-answer"
        action = verb.get("action")
        if not action:
            return False  # Twilio goes on with the verbs after <Dial>
        self._run_document(self.post(action, {"DialCallStatus": status}))
        return True

    # -- the dialled person -------------------------------------------------------------------

    def _dial_number(self, dial: ET.Element, number: ET.Element) -> None:
        """Ring ``number`` as ``callee`` says; screen its answer at the Number's url (with
        AnsweredBy, as machineDetection does), talk or not, then post the Dial's action."""
        assert self.callee is not None
        to = (number.text or "").strip()
        outcome = self.callee(to)
        if outcome not in CALLEE_OUTCOMES:
            raise WalkerError(f"a dialled phone does one of {CALLEE_OUTCOMES}, not {outcome!r}")
        dial_status, duration = outcome, 0
        if outcome in _ANSWERED_BY:
            dial_status = "completed"
            answered_by = _ANSWERED_BY[outcome]
            bridged = True
            url = number.get("url")
            if url:
                child = {
                    "CallSid": "CA" + secrets.token_hex(16),
                    "ParentCallSid": self.call_sid,
                    "Direction": "outbound-dial",
                    "From": dial.get("callerId") or self.from_,
                    "To": to,
                    "AnsweredBy": answered_by,
                }
                # An empty document bridges the calls; <Hangup> ends the dialled leg.
                verbs = self._parse(self.post(url, child))
                bridged = all(verb.tag != "Hangup" for verb in verbs)
            if bridged:
                self.heard.append(f"[connected to {to}: answered by {answered_by}]")
                duration = TALK_SECONDS
                self.seconds += TALK_SECONDS
            else:
                self.heard.append(f"[{to} answered by {answered_by}: hung up on]")
        else:
            self.heard.append(f"[{to}: {outcome}]")
        action = dial.get("action")
        if action:
            params = {"DialCallStatus": dial_status, "DialCallDuration": str(duration)}
            self._run_document(self.post(action, params))
        elif not self.ended:
            self._end_call()

    # -- the queue --------------------------------------------------------------------------

    def _queue_params(self) -> dict[str, str]:
        assert self._queue is not None
        return {
            "QueueSid": "QU" + "0" * 32,
            "QueueTime": str(self._queue_seconds),
            "CurrentQueueSize": str(self.queue_position),
            "QueuePosition": str(self.queue_position),
        }

    def _enqueue(self, verb: ET.Element) -> None:
        self.heard.append(f"[waiting in queue {verb.text or ''}]")
        self._queue = {"action": verb.get("action") or "", "wait": verb.get("waitUrl") or ""}
        self._queue_seconds = 0
        self._continue_queue([])

    def _continue_queue(self, verbs: list[ET.Element]) -> list[str]:
        """Run hold TwiML; when it runs out, fetch the wait URL again (as Twilio loops it)."""
        assert self._queue is not None
        start = len(self.heard)
        while not self.ended:
            redirected = None
            for index, verb in enumerate(verbs):
                if verb.tag == "Leave":
                    self._leave_queue("leave")
                    return self.heard[start:]
                if verb.tag == "Redirect":
                    redirected = verb.text or ""
                    break
                before = self.seconds
                if self._verb(verb, verbs[index + 1 :]):
                    if self.listening is not None:
                        self.listening.in_queue = True
                    self._queue_seconds += self.seconds - before
                    return self.heard[start:]
                self._queue_seconds += self.seconds - before
            if self._queue_seconds > MAX_QUEUE_SECONDS:
                self._leave_queue("leave")
                return self.heard[start:]
            url = redirected or self._queue["wait"]
            verbs = self._parse(self.post(url, self._queue_params()))
        return self.heard[start:]

    def _leave_queue(self, result: str) -> None:
        assert self._queue is not None
        action = self._queue["action"]
        params = {"QueueResult": result, "QueueTime": str(self._queue_seconds)}
        self._queue = None
        self._run_document(self.post(action, params))

    # -- the end of the call ------------------------------------------------------------------

    def _end_call(self) -> None:
        self.ended = True
        self.listening = None
        if self._conference is not None:
            leave_conference(self._conference, post=self.post)
            self._conference = None
        self.holding = None
        if self.recording_started:
            self.post(
                f"{self.base_url}/ivr/status/recording",
                {
                    "RecordingSid": "RE" + secrets.token_hex(16),
                    "RecordingUrl": f"{self.base_url}/recordings/{self.call_sid}",
                    "RecordingStatus": "completed",
                    "RecordingDuration": "30",
                },
            )
        status_url = f"{self.base_url}/ivr/status"
        if self.direction != "inbound":
            status_url = self.status_callback or ""
        if status_url:
            self.post(
                status_url,
                {
                    "CallStatus": "completed",
                    "CallDuration": str(self.seconds),
                    "SequenceNumber": "9",
                },
            )
