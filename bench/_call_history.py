"""The rows a finished call leaves, as the app writes them: for a history of earlier calls.

Every call has ten turns (100 000 calls make 1 000 000 ``call_turns`` rows). Three calls in
five are the benchmark's own message call: the caller pressed the callback key on hold, left a
message and heard the SR number; the call leaves a message, an SR, an SMS confirmation (sent
and delivered, with its done work item) and a callback (done). The other two talked to an
agent, after re-prompts at the menu, the customer number and the product choice (so that they
too have ten turns). The steps and the flow are ``intake.call_steps`` values as JSON, the times
UTC-aware; ``tests/bench`` walks both calls through the app and compares the rows it stores.
Pure: ``bench._history_fill`` writes the rows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from callbacks.models import CallbackStatus
from callbacks.promises import callback_due_at, warn_at
from db.work import WorkState
from intake.call_steps import FlowState, Say, Step, StepKind, StepName
from intake.call_store import ABANDONED_AFTER
from intake.catalog import Catalog
from intake.confirmations import MAX_ATTEMPTS, WORK_KIND, WORK_PRIORITY
from intake.models import ConfirmationStatus
from intake.phone_numbers import spoken_digits
from intake.sr_numbers import sr_number_for

TURNS_PER_CALL = 10
MESSAGE_CALLS_IN_FIVE = 3
REGION = "de"
# The demo customers (config/demo/customers.csv), as the benchmark's own callers use them.
MESSAGE_CUSTOMER = ("4711002", "Beispiel Logistik AG", "NSX")  # one product, no e-mail
AGENT_CUSTOMER = ("4711001", ("vSphere", "Workstation"))  # two products, e-mail on file
# Callers call again: a pool of mobile numbers, read back digit by digit in the callback offer.
CALLER_POOL = 2_000
NAMES = ("Erika Mustermann", "Jonas Becker", "Aylin Yilmaz", "Lukas Wagner", "Sofia Richter")
DESCRIPTIONS = (
    "Der vCenter-Server startet nach dem Update nicht mehr.",
    "Nach dem Zertifikatswechsel verbinden sich die Hosts nicht mehr mit dem Manager.",
    "Die Edge-Knoten verlieren alle paar Stunden ihre Routen.",
    "Seit dem Patch sind zwei virtuelle Maschinen nicht mehr erreichbar.",
)
STATUS_SEQUENCE = 9  # the walker's (and so the benchmark's) last status callback
WORKER_ID = "hotline-worker-1:4242:a1b2c3"
# When each turn is answered, from the start of the call (seconds); the agent call's last turn
# comes when the agent hangs up.
_MESSAGE_AT = tuple(timedelta(seconds=s) for s in (0, 7, 13, 61, 66, 75, 80, 88, 121, 131))
_AGENT_AT = tuple(timedelta(seconds=s) for s in (0, 9, 15, 19, 28, 36, 45, 52, 58))
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Caller:
    """A caller's number (E.164) and its digits as the callback offer reads them."""

    number: str
    spoken: str


@dataclass(frozen=True)
class Ids:
    """The ids one message call gives its rows."""

    message: int
    service_request: int
    confirmation: int
    work_item: int
    callback: int


@dataclass
class CallRows:
    """Every row one call leaves: the call, its turns as columns, its message's rows by table."""

    call: dict[str, Any]
    turn_steps: list[dict[str, Any]]
    turn_times: list[datetime]
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def turns(self) -> list[dict[str, Any]]:
        """The ``call_turns`` rows."""
        sid = self.call["call_sid"]
        return [
            {"call_sid": sid, "seq": seq, "step": step, "created_at": at}
            for seq, (step, at) in enumerate(zip(self.turn_steps, self.turn_times, strict=True))
        ]


def _step(name: StepName, kind: StepKind, *says: Say, **options: Any) -> dict[str, Any]:
    return Step(name, kind, says, **options).to_json()


def _digits(name: StepName, *says: Say, **options: Any) -> dict[str, Any]:
    return _step(name, StepKind.DIGITS, *says, **options)


_ASK_CUSTOMER = Say("ask_customer_number")
_MENU = _digits(StepName.MENU, Say("welcome"), Say("menu"), num_digits=1)
_CUSTOMER_NUMBER = _digits(StepName.CUSTOMER_NUMBER, _ASK_CUSTOMER)
_AGENT = _step(StepName.AGENT, StepKind.AGENT, Say("connecting_agent"))


class History:
    """Builds the rows of the calls, one call at a time (pure: no database)."""

    def __init__(self, catalog: Catalog) -> None:
        region = catalog.region(REGION)
        self.region = region
        self.to_number = region.numbers[0]
        self.consent_version = catalog.prompts_for(region.language).version
        message_line = catalog.product_line_for(MESSAGE_CUSTOMER[2])
        agent_line = catalog.product_line_for(AGENT_CUSTOMER[1][0])
        assert message_line is not None
        assert agent_line is not None
        self.message_line = message_line
        self.agent_line_key = agent_line.key
        products = AGENT_CUSTOMER[1]
        choice = [Say("product_intro")] + [
            Say("product_option", values={"product": p, "key": str(n)})
            for n, p in enumerate(products, start=1)
        ]
        # The agent call: silence and a wrong key at the menu, two unknown customer numbers,
        # a wrong key at the product choice, then the agent; 10 turns like the message call.
        self.agent_steps = [
            _MENU,
            _digits(StepName.MENU, Say("no_input"), Say("menu"), num_digits=1),
            _digits(StepName.MENU, Say("not_understood"), Say("menu"), num_digits=1),
            _CUSTOMER_NUMBER,
            _digits(StepName.CUSTOMER_NUMBER, Say("customer_unknown"), _ASK_CUSTOMER),
            _digits(StepName.CUSTOMER_NUMBER, Say("customer_unknown"), _ASK_CUSTOMER),
            _digits(StepName.PRODUCT_CHOICE, *choice, num_digits=1),
            _digits(StepName.PRODUCT_CHOICE, Say("not_understood"), *choice, num_digits=1),
            _AGENT,
            _step(StepName.END, StepKind.HANGUP),
        ]
        self.agent_flow = FlowState(
            step=StepName.END, products=products, email_on_file=True
        ).to_json()
        self.message_steps_head = [
            _MENU,
            _CUSTOMER_NUMBER,
            _AGENT,
            _step(StepName.NAME, StepKind.SPEECH, Say("callback_keeps_place"), Say("ask_name")),
        ]
        self.message_steps_tail = [
            _digits(StepName.SR_REFERENCE, Say("ask_sr_reference"), submit_empty=True),
            _digits(StepName.CONSENT, Say("consent_ask"), num_digits=1),
            _step(
                StepName.DESCRIPTION,
                StepKind.SPEECH,
                Say("consent_declined"),
                Say("ask_description"),
                long_speech=True,
            ),
        ]
        self.goodbye = _step(StepName.END, StepKind.HANGUP, Say("goodbye"))
        self.offers: dict[str, dict[str, Any]] = {}  # by caller: the callback offer reads it
        assert len(self.agent_steps) == TURNS_PER_CALL

    def _offer(self, caller: Caller) -> dict[str, Any]:
        offer = self.offers.get(caller.number)
        if offer is None:
            say = Say("callback_offer", digits={"number": caller.spoken})
            offer = self.offers[caller.number] = _digits(StepName.CALLBACK_NUMBER, say)
        return offer

    def _call(
        self, sid: str, caller: Caller, started: datetime, ended: datetime, last_turn: datetime
    ) -> dict[str, Any]:
        return {
            "call_sid": sid,
            "region": self.region.key,
            "language": self.region.language,
            "from_number": caller.number,
            "to_number": self.to_number,
            "started_at": started,
            "last_activity_at": ended,
            "settle_after": last_turn + ABANDONED_AFTER,
            "ended_at": ended,
            "status": "completed",
            "status_sequence": STATUS_SEQUENCE,
            "duration_seconds": round((ended - started).total_seconds()),
            "turn": TURNS_PER_CALL,
            "is_identified": True,
            "is_settled": True,
        }

    def agent_call(self, sid: str, caller: Caller, started: datetime, talk: timedelta) -> CallRows:
        """A caller who got through the re-prompts to an agent and talked for ``talk``."""
        at = [started + offset for offset in _AGENT_AT]
        at.append(at[-1] + talk)
        ended = at[-1] + _SECOND
        customer_number, products = AGENT_CUSTOMER
        call = self._call(sid, caller, started, ended, at[-1])
        call.update(
            flow=self.agent_flow,
            customer_number=customer_number,
            product=products[0],
            product_line=self.agent_line_key,
            outcome="agent",
            sr_number=None,
            version=TURNS_PER_CALL,
        )
        return CallRows(call, self.agent_steps, at)

    def message_call(
        self, sid: str, caller: Caller, started: datetime, ids: Ids, *, name: str, text: str
    ) -> CallRows:
        """A caller who chose a callback on hold, left a message and heard the SR number."""
        at = [started + offset for offset in _MESSAGE_AT]
        asked = at[3] - _SECOND  # the callback key on hold
        ended = at[-1] + _SECOND
        sr = sr_number_for(ids.service_request)
        customer_number, company, product = MESSAGE_CUSTOMER
        line = self.message_line
        readback = _digits(
            StepName.READBACK,
            Say("sr_number", digits={"sr_number": sr}),
            Say("sr_number_again", digits={"sr_number": sr}),
            Say("readback_menu"),
            num_digits=1,
        )
        steps = [
            *self.message_steps_head,
            self._offer(caller),
            *self.message_steps_tail,
            readback,
            self.goodbye,
        ]
        call = self._call(sid, caller, started, ended, at[-1])
        call.update(
            flow=FlowState(
                step=StepName.END, queue_callback=True, callback_asked_at=asked
            ).to_json(),
            customer_number=customer_number,
            product=product,
            product_line=line.key,
            outcome="message",
            sr_number=sr,
            version=TURNS_PER_CALL + 1,
        )
        rows = CallRows(call, steps, at)
        submitted = at[8]  # the SR is made in the turn that reads it back
        due = callback_due_at(line, self.region, created_at=asked)
        shared = {
            "region": self.region.key,
            "language": self.region.language,
            "customer_number": customer_number,
            "is_identified": True,
            "product": product,
            "product_line": line.key,
            "contact_name": name,
            "company": company,
            "callback_number": caller.number,
            "sr_reference": None,
            "description": text,
            "answer_channel": "phone",
        }
        rows.rows["messages"] = {
            **shared,
            "id": ids.message,
            "call_sid": sid,
            "kind": "new",
            "callback_number_source": "caller_id",
            "description_confidence": 0.92,
            "recording_consent": False,
            "consent_prompt_version": self.consent_version,
            "consent_at": at[7],
            "recording_sid": None,
            "recording_url": None,
            "requested_at": started,
            "callback_asked_at": asked,
            "created_at": at[3],
            "updated_at": submitted,
            "is_complete": True,
            "callback_due_at": due,
            "sr_number": sr,
            "is_submitted": True,
        }
        rows.rows["service_requests"] = {
            **shared,
            "id": ids.service_request,
            "number": sr,
            "email": None,
            "status": "open",
            "origin_message_id": ids.message,
            "unconfirmed_reason": None,
            "source": "phone",
            "created_at": submitted,
        }
        key = f"confirmation:{sr}:{ids.message}:sms"
        sent = submitted + 2 * _SECOND
        rows.rows["confirmations"] = {
            "id": ids.confirmation,
            "key": key,
            "sr_number": sr,
            "message_id": ids.message,
            "channel": "sms",
            "address": caller.number,
            "language": self.region.language,
            "status": ConfirmationStatus.DELIVERED.value,
            "provider_id": f"SM{ids.confirmation:032x}",
            "provider_status": "delivered",
            "attempt_started_at": submitted + _SECOND,
            "sent_at": sent,
            "delivered_at": sent + 5 * _SECOND,
            "last_error": None,
            "created_at": submitted,
        }
        rows.rows["work_items"] = {
            "id": ids.work_item,
            "kind": WORK_KIND,
            "key": key,
            "payload": {"confirmation_id": ids.confirmation},
            "state": WorkState.DONE.value,
            "priority": WORK_PRIORITY,
            "due_at": submitted,
            "attempts": 1,
            "max_attempts": MAX_ATTEMPTS,
            "claimed_by": WORKER_ID,
            "lease_until": None,
            "last_error": None,
            "created_at": submitted,
            "updated_at": sent,
            "finished_at": sent,
        }
        rows.rows["callbacks"] = {
            "id": ids.callback,
            "message_id": ids.message,
            "sr_number": sr,
            "region": self.region.key,
            "language": self.region.language,
            "product_line": line.key,
            "callback_number": caller.number,
            "status": CallbackStatus.DONE.value,
            "requested_at": started,
            "due_at": due,
            "warn_at": warn_at(due, created_at=asked, lead=line.callback_warn_before),
            "created_at": submitted,
        }
        return rows


def caller_pool(rng: random.Random) -> list[Caller]:
    """The callers of the history (they call again and again)."""
    numbers = {f"+49151{rng.randrange(10**8):08d}" for _ in range(CALLER_POOL)}
    return [Caller(n, spoken_digits(n, country="DE")) for n in sorted(numbers)]
