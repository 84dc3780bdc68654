"""The agent's "take the next caller" leg, as pure decisions: who waits, and the press-1 turns.

The agent's phone rings from the region's number and whispers "press 1 to take the next
caller" (up to ``MAX_WHISPERS`` times); on 1 the agent is bridged to the longest-waiting caller
of the region's queue (Twilio picks them: ``<Dial><Queue>``), or hears that nobody waits.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from intake.call_steps import FlowState, StepName

# The agent hears the whisper this often before the call ends without a key (product rule:
# three tries, as for callers).
MAX_WHISPERS = 3
TAKE_KEY = "1"
# The hold loop lets a caller go at the line's maximum wait, checking once per round (a hold
# announcement and a pause, or a piece of hold music): a caller still marked as queued this
# long after that has left without our hearing of it (a status callback lost).
LEFT_QUEUE_GRACE = timedelta(minutes=2)


class NextCallerAction(enum.StrEnum):
    """What the agent's leg does after the whisper."""

    WHISPER = "whisper"  # ask (again): press 1 to take the next caller
    BRIDGE = "bridge"  # <Dial><Queue>: the longest-waiting caller of the region
    NOBODY_WAITING = "nobody_waiting"  # say so and hang up
    GIVE_UP = "give_up"  # no key after the last whisper: hang up


@dataclass(frozen=True)
class NextCallerTurn:
    """The agent's next step; ``attempt`` counts the whispers (1-based)."""

    action: NextCallerAction
    attempt: int


def is_waiting_in_queue(
    state: FlowState,
    *,
    outcome: str | None,
    queued_since: datetime,
    now: datetime,
    max_wait: timedelta,
) -> bool:
    """Whether a call not ended is a caller on hold for an agent now.

    In the agent step, not taken by an agent yet (``outcome``), not leaving for a callback, and
    not past the line's maximum wait (with ``LEFT_QUEUE_GRACE``).
    """
    return (
        state.step is StepName.AGENT
        and outcome is None
        and not state.queue_callback
        and now - queued_since <= max_wait + LEFT_QUEUE_GRACE
    )


def after_whisper(*, digits: str | None, attempt: int, caller_waiting: bool) -> NextCallerTurn:
    """The agent's answer to whisper number ``attempt``: 1 takes a caller (if one waits);
    anything else or silence whispers again, up to ``MAX_WHISPERS`` times."""
    if digits == TAKE_KEY:
        action = NextCallerAction.BRIDGE if caller_waiting else NextCallerAction.NOBODY_WAITING
        return NextCallerTurn(action, attempt)
    if attempt < MAX_WHISPERS:
        return NextCallerTurn(NextCallerAction.WHISPER, attempt + 1)
    return NextCallerTurn(NextCallerAction.GIVE_UP, attempt)
