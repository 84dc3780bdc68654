"""A callback's life as explicit moves: which are allowed from where, and where each leads.

queued -> claimed (one agent) -> calling (the agent's phone rings, then the customer's) ->
claimed again once the customer was reached, until the agent records how it went -> done;
or back to queued (released, claim expired, agent did not take the call, customer not reached
and attempts left, another time asked for); or unreachable once the attempts are used up.
Pure: the services apply these decisions and write one event row for each.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from callbacks.models import CallbackStatus

Q, CL, CA = CallbackStatus.QUEUED, CallbackStatus.CLAIMED, CallbackStatus.CALLING


class Move(enum.StrEnum):
    """Something that happens to a callback."""

    CLAIM = "claim"
    RELEASE = "release"
    EXPIRE = "expire"
    START_CALL = "start_call"
    AGENT_DECLINED = "agent_declined"  # pressed 2, hung up, or did not answer
    AGENT_ACCEPTED = "agent_accepted"  # pressed 1: the customer is dialled
    CUSTOMER_REACHED = "customer_reached"
    CUSTOMER_NOT_REACHED = "customer_not_reached"
    DISPOSITION = "disposition"
    RESCHEDULE = "reschedule"
    CALL_LOST = "call_lost"  # the agent's call could not be placed


class Disposition(enum.StrEnum):
    """How a call to the customer went, as the agent (or the call's outcome) records it."""

    REACHED_RESOLVED = "reached_resolved"
    REACHED_SR_UPDATED = "reached_sr_updated"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL_LEFT = "voicemail_left"
    ANSWERING_MACHINE = "answering_machine"
    WRONG_NUMBER = "wrong_number"
    ANOTHER_TIME = "another_time"


# Dispositions that close the callback; the customer was dealt with (or cannot be, on this
# number). The rest count as an attempt that did not reach them, except another time.
CLOSING = frozenset(
    {Disposition.REACHED_RESOLVED, Disposition.REACHED_SR_UPDATED, Disposition.WRONG_NUMBER}
)
NOT_REACHED = frozenset(
    {
        Disposition.NO_ANSWER,
        Disposition.BUSY,
        Disposition.VOICEMAIL_LEFT,
        Disposition.ANSWERING_MACHINE,
    }
)

# Where each move may start.
ALLOWED_FROM: dict[Move, frozenset[CallbackStatus]] = {
    Move.CLAIM: frozenset({Q}),
    Move.RELEASE: frozenset({CL}),
    Move.EXPIRE: frozenset({CL}),
    Move.START_CALL: frozenset({CL}),
    Move.AGENT_DECLINED: frozenset({CA}),
    Move.AGENT_ACCEPTED: frozenset({CA}),
    Move.CUSTOMER_REACHED: frozenset({CA}),
    Move.CUSTOMER_NOT_REACHED: frozenset({CA}),
    Move.DISPOSITION: frozenset({CL, CA}),
    Move.RESCHEDULE: frozenset({Q, CL}),
    Move.CALL_LOST: frozenset({CA}),
}


class Forbidden(Exception):
    """The move is not allowed from the callback's current status."""

    def __init__(self, move: Move, status: CallbackStatus) -> None:
        allowed = ", ".join(sorted(s.value for s in ALLOWED_FROM[move]))
        super().__init__(f"cannot {move.value} a callback that is {status.value} (only {allowed})")
        self.move = move
        self.status = status


@dataclass(frozen=True)
class Outcome:
    """Where a move leads: the next status, and whether it used up one call to the customer."""

    status: CallbackStatus
    counts_attempt: bool = False
    # Back in the queue for a later call (retry or a time the customer asked for).
    is_retry: bool = False


def decide_move(
    move: Move,
    status: CallbackStatus,
    *,
    disposition: Disposition | None = None,
    attempts_made: int = 0,
    attempts_allowed: int = 1,
) -> Outcome:
    """Where ``move`` takes a callback that is ``status``; raises ``Forbidden``.

    ``attempts_made`` counts calls that reached the customer's phone before this one.
    """
    if status not in ALLOWED_FROM[move]:
        raise Forbidden(move, status)
    if move is Move.CLAIM:
        return Outcome(CL)
    if move in (Move.RELEASE, Move.EXPIRE, Move.AGENT_DECLINED, Move.CALL_LOST):
        return Outcome(Q)
    if move in (Move.START_CALL, Move.AGENT_ACCEPTED):
        return Outcome(CA)
    if move is Move.CUSTOMER_REACHED:
        # The agent still holds it, to record how the call went.
        return Outcome(CL, counts_attempt=True)
    if move is Move.RESCHEDULE:
        return Outcome(Q, is_retry=True)
    if move is Move.CUSTOMER_NOT_REACHED:
        return _not_reached(attempts_made, attempts_allowed)
    if disposition is None:
        raise ValueError("a disposition move needs the disposition")
    if disposition in CLOSING:
        # A reached customer's call was counted when the call connected.
        return Outcome(CallbackStatus.DONE, counts_attempt=status is CA)
    if disposition is Disposition.ANOTHER_TIME:
        return Outcome(Q, is_retry=True)
    return _not_reached(attempts_made, attempts_allowed)


def _not_reached(attempts_made: int, attempts_allowed: int) -> Outcome:
    if attempts_made + 1 >= attempts_allowed:
        return Outcome(CallbackStatus.UNREACHABLE, counts_attempt=True)
    return Outcome(Q, counts_attempt=True, is_retry=True)
