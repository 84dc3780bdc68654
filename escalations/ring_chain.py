"""The duty managers' ring chain as pure decisions: who is rung next, and what a webhook of a
duty manager's call means.

The chain rings the roster's plan (the people on duty, then the fallback) one at a time, round
after round; a pass, no answer, busy or a machine moves on to the next person at once. After
the last round the escalation is flagged unowned. Anyone rung for an escalation still waiting
for an owner may accept it, even after their ring was given up on (a late pick-up): the first
accept wins, later ones hear who has it. No I/O: ``escalations.ringing`` reads the facts,
decides here and writes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from escalations.records import EscalationStatus, RingOutcome

# The question ("1 accept, 2 pass on, 3 hear it again") is asked at most this many times; then
# the manager hears goodbye and the chain moves on.
MAX_KEY_TRIES = 3
# Twilio's AnsweredBy values that mean nobody is there to talk to (MachineDetection=Enable).
MACHINE_ANSWERS = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}
)
# The call's final CallStatus (REST status callback) and what it means for an undecided ring.
ENDED_BY_STATUS = {
    "busy": RingOutcome.BUSY,
    "no-answer": RingOutcome.NO_ANSWER,
    "failed": RingOutcome.NO_ANSWER,
    "canceled": RingOutcome.NO_ANSWER,
    "completed": RingOutcome.NO_ANSWER,  # hung up before choosing
}
WAITING = frozenset({EscalationStatus.RAISED, EscalationStatus.UNOWNED})


@dataclass(frozen=True)
class NextRing:
    """The ring to place next: its number in the chain, its round, and whom (plan index)."""

    seq: int
    round: int
    position: int


def next_ring(*, plan_size: int, rounds: int, last_seq: int) -> NextRing | None:
    """The ring after ring ``last_seq`` (0: none yet), or None once every round is rung."""
    if plan_size <= 0 or last_seq >= plan_size * rounds:
        return None
    return NextRing(
        seq=last_seq + 1, round=last_seq // plan_size + 1, position=last_seq % plan_size
    )


# -- what a webhook of a duty manager's call reports --------------------------------------------


@dataclass(frozen=True)
class ManagerAnswered:
    """The call was answered (``tries`` > 1: the question is asked again after silence)."""

    tries: int = 1
    answered_by: str | None = None  # Twilio's AnsweredBy (machine detection)


@dataclass(frozen=True)
class ManagerKey:
    """The manager pressed ``digits`` (empty: nothing) at try ``tries`` of the question."""

    digits: str
    tries: int = 1


@dataclass(frozen=True)
class ManagerLegEnded:
    """The call reported a status (CallStatus of its REST status callback)."""

    call_status: str


RingReport = ManagerAnswered | ManagerKey | ManagerLegEnded


@dataclass(frozen=True)
class RingFacts:
    """What a report is decided on: the escalation's status and this ring's place in it."""

    status: EscalationStatus
    # This ring is the chain's latest and has no outcome yet: its end moves the chain on.
    is_current: bool
    # This ring's person is the escalation's owner.
    is_owner: bool = False


class Reply(enum.StrEnum):
    """What the manager hears (the edge renders it)."""

    SUMMARY = "summary"  # the escalation, then the question
    ASK_AGAIN = "ask_again"
    ACCEPTED = "accepted"  # it is theirs now
    PASSED = "passed"  # the next person is rung
    TAKEN = "taken"  # "already accepted by <name>"
    NO_KEY = "no_key"  # goodbye; the chain moved on
    HANG_UP = "hang_up"  # a machine answered
    GONE = "gone"  # nothing waits for this call any more (also for status callbacks)


@dataclass(frozen=True)
class RingDecision:
    """A report's meaning: what the manager hears, the ring's outcome to record (if this is
    the ring's end), whether the escalation is accepted, and whether the chain moves on."""

    reply: Reply
    outcome: RingOutcome | None = None
    accept: bool = False
    advance: bool = False


def ring_decision(facts: RingFacts, report: RingReport) -> RingDecision:
    """What ``report`` means for the ring at ``facts``. Pure."""
    if isinstance(report, ManagerLegEnded):
        return _call_ended(facts, report)
    if facts.status is EscalationStatus.ACCEPTED:
        if facts.is_owner and isinstance(report, ManagerKey) and report.digits == "1":
            return RingDecision(Reply.ACCEPTED)  # the same key again (a retried request)
        return RingDecision(Reply.TAKEN, _late(facts))
    if facts.status not in WAITING:
        return RingDecision(Reply.GONE, _late(facts))
    if isinstance(report, ManagerAnswered):
        return _answered(facts, report)
    return _key(facts, report)


def _answered(facts: RingFacts, report: ManagerAnswered) -> RingDecision:
    if report.answered_by in MACHINE_ANSWERS:
        return _moving_on(facts, Reply.HANG_UP, RingOutcome.MACHINE)
    if report.tries <= 1:
        return RingDecision(Reply.SUMMARY)
    if report.tries <= MAX_KEY_TRIES:
        return RingDecision(Reply.ASK_AGAIN)
    return _moving_on(facts, Reply.NO_KEY, RingOutcome.NO_ANSWER)


def _key(facts: RingFacts, report: ManagerKey) -> RingDecision:
    if report.digits == "1":
        return RingDecision(Reply.ACCEPTED, RingOutcome.ACCEPTED, accept=True)
    if report.digits == "2":
        return _moving_on(facts, Reply.PASSED, RingOutcome.PASSED)
    if report.digits == "3":
        return RingDecision(Reply.SUMMARY)
    if report.tries < MAX_KEY_TRIES:
        return RingDecision(Reply.ASK_AGAIN)
    return _moving_on(facts, Reply.NO_KEY, RingOutcome.NO_ANSWER)


def _call_ended(facts: RingFacts, report: ManagerLegEnded) -> RingDecision:
    outcome = ENDED_BY_STATUS.get(report.call_status)
    if outcome is None or not facts.is_current:
        # Progress (ringing, in-progress), or a ring already decided: nothing changes.
        return RingDecision(Reply.GONE)
    if facts.status not in WAITING:
        return RingDecision(Reply.GONE, RingOutcome.TOO_LATE)
    return RingDecision(Reply.GONE, outcome, advance=True)


def _moving_on(facts: RingFacts, reply: Reply, outcome: RingOutcome) -> RingDecision:
    """The ring ends without an accept: the chain moves on if this ring is its latest."""
    if not facts.is_current:
        return RingDecision(reply)
    return RingDecision(reply, outcome, advance=True)


def _late(facts: RingFacts) -> RingOutcome | None:
    # Rung, but the escalation was taken (or ended) meanwhile: the ring ends as too late.
    return RingOutcome.TOO_LATE if facts.is_current else None
