"""What a call's webhooks bring in, and what a turn gives back to the edge.

The edge (``ivr``) parses Twilio's form into a ``CallerInput``, cutting every value to the
limits below: they are the columns' widths, so an over-long answer is stored cut, the same on
SQLite (which would keep it whole) and PostgreSQL (which would refuse it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from intake.call_steps import Step
from intake.catalog import Catalog
from intake.ports import CallbackScheduler, EscalationDesk

# Longest values kept, in characters (see ``intake.models``): Twilio's CallSid is 34, an
# E.164 number at most 16 (SIP addresses, "anonymous" and the like are cut at 40).
CALL_SID_LIMIT = 64
ADDRESS_LIMIT = 40
DIGITS_LIMIT = 32
# Name and company are 200 characters; a description is kept up to 4000 (over two minutes of
# speech; Twilio's speech recognition stops after 60 s of it).
SPEECH_LIMIT = 200
LONG_SPEECH_LIMIT = 4000


def cut(value: str | None, limit: int) -> str | None:
    """``value`` cut to ``limit`` characters (None stays None)."""
    return value[:limit] if value is not None else None


class UnknownNumber(Exception):
    """The dialled number belongs to no configured region."""


class UnknownCall(Exception):
    """A follow-up webhook for a call we never saw start."""


@dataclass(frozen=True)
class CallerInput:
    """What one webhook carried, already parsed (and cut to the limits) by the edge."""

    call_sid: str
    to_number: str
    from_number: str | None = None
    digits: str | None = None
    speech: str | None = None
    confidence: float | None = None
    agent_result: str | None = None
    is_no_input: bool = False
    # When the greeting was answered (carried from the first webhook in the answer's URL); the
    # call is stored from its first answer on, with this as its start.
    started_at: datetime | None = None


@dataclass(frozen=True)
class TurnResult:
    """The step to render, the turn number its answer must carry, and the call's region."""

    step: Step
    seq: int
    region: str
    language: str
    sr_number: str | None
    is_replay: bool


@dataclass(frozen=True)
class CallContext:
    """The collaborators and the instant of one request about a call."""

    catalog: Catalog
    scheduler: CallbackScheduler
    escalations: EscalationDesk
    now: datetime
