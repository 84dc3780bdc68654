"""What each webhook of a conference call means: pure decisions, tested as tables.

Twilio may post anything twice, late or out of order (its conference events carry a
SequenceNumber and a Timestamp, but arrive as they will): a repeated join or leave, or any
event for a conference already over, changes nothing. A conference is over when Twilio says so
(conference-end), or when nobody is on the line and nobody is still being dialled: then no
event will ever come (Twilio starts no conference nobody joined).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

# The keypad tries a dial-in caller gets for the PIN (silence counts as a try).
MAX_PIN_TRIES = 3
PIN_DIGITS = 6
# How a participant's call can end (CallStatus of its status callback).
CALL_ENDED = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


class ParticipantState(enum.StrEnum):
    """Where a participant stands."""

    DIALLING = "dialling"  # the call is requested or ringing
    ON_CALL = "on_call"  # joined, not left
    LEFT = "left"
    NOT_REACHED = "not_reached"  # the call ended (or was never placed) before joining


def participant_state(
    *, joined_at: datetime | None, left_at: datetime | None, call_ended: bool
) -> ParticipantState:
    """Where a participant stands; ``call_ended``: their call is over or was never placed."""
    if left_at is not None:
        return ParticipantState.LEFT
    if joined_at is not None:
        # On the line until Twilio reports the leave (or the end), whatever the call's status
        # says: the leave carries the time the participant left.
        return ParticipantState.ON_CALL
    return ParticipantState.NOT_REACHED if call_ended else ParticipantState.DIALLING


def is_over(states: Iterable[ParticipantState]) -> bool:
    """Nobody on the line and nobody still being dialled: nothing more will happen."""
    return all(s in (ParticipantState.LEFT, ParticipantState.NOT_REACHED) for s in states)


class LegReply(enum.StrEnum):
    """What a dialled participant hears when they pick up."""

    JOIN = "join"  # the intro, then into the conference
    GONE = "gone"  # the conference is over (or unknown): goodbye


def leg_reply(*, is_open: bool, is_participant: bool, has_left: bool) -> LegReply:
    """A picked-up call joins an open conference it was dialled for, unless it left already."""
    if is_open and is_participant and not has_left:
        return LegReply.JOIN
    return LegReply.GONE


class ConferenceEvent(enum.StrEnum):
    """Twilio's StatusCallbackEvent values the hotline acts on."""

    START = "conference-start"
    END = "conference-end"
    JOIN = "participant-join"
    LEAVE = "participant-leave"


class EventEffect(enum.StrEnum):
    """What a conference event changes."""

    NOTHING = "nothing"
    KEEP_SID = "keep_sid"  # remember Twilio's ConferenceSid
    RECORD_JOIN = "record_join"
    RECORD_LEAVE = "record_leave"
    CLOSE = "close"


def event_effect(
    event: str,
    *,
    is_open: bool,
    is_participant: bool,
    joined_at: datetime | None = None,
    left_at: datetime | None = None,
) -> EventEffect:
    """What ``event`` changes for an (open or ended) conference and the participant whose
    CallSid it names. Mute, hold, speaker and unknown events change nothing."""
    if not is_open:
        return EventEffect.NOTHING
    if event == ConferenceEvent.START:
        return EventEffect.KEEP_SID
    if event == ConferenceEvent.END:
        return EventEffect.CLOSE
    if not is_participant:
        return EventEffect.NOTHING
    if event == ConferenceEvent.JOIN and joined_at is None:
        # A join reported after its leave (out of order) still says when it began.
        return EventEffect.RECORD_JOIN
    if event == ConferenceEvent.LEAVE and left_at is None:
        return EventEffect.RECORD_LEAVE
    return EventEffect.NOTHING


def seconds_between(joined_at: datetime | None, left_at: datetime | None) -> int | None:
    """Whole seconds on the call (never negative); None until both ends are known."""
    if joined_at is None or left_at is None:
        return None
    return max(0, round((left_at - joined_at).total_seconds()))


class DialInReply(enum.StrEnum):
    """What a caller on the dial-in line hears next."""

    ASK = "ask"  # "please type the PIN"
    ASK_AGAIN = "ask_again"  # after silence
    WRONG_PIN = "wrong_pin"  # no open conference has that PIN: type it again
    JOIN = "join"
    GOODBYE = "goodbye"  # tries used up


def dial_in_reply(*, tries: int, digits: str | None, found: bool) -> DialInReply:
    """The dial-in line at try ``tries``: ``digits`` None when asking (first, or after
    silence); ``found``: the digits are the PIN of an open conference on this line."""
    if digits is None:
        if tries > MAX_PIN_TRIES:
            return DialInReply.GOODBYE
        return DialInReply.ASK if tries <= 1 else DialInReply.ASK_AGAIN
    if found:
        return DialInReply.JOIN
    return DialInReply.WRONG_PIN if tries < MAX_PIN_TRIES else DialInReply.GOODBYE


def is_pin_shaped(digits: str) -> bool:
    """Whether typed digits could be a PIN at all (worth a look in the database)."""
    return len(digits) == PIN_DIGITS and digits.isdigit()
