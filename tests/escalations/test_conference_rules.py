"""The conference call's decisions as tables: a participant's state, the end, each event, the
picked-up leg and the dial-in line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from escalations.conference_rules import (
    MAX_PIN_TRIES,
    DialInReply,
    EventEffect,
    LegReply,
    ParticipantState,
    dial_in_reply,
    event_effect,
    is_over,
    is_pin_shaped,
    leg_reply,
    participant_state,
    seconds_between,
)

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=12, seconds=30)
S = ParticipantState


@pytest.mark.parametrize(
    ("joined_at", "left_at", "call_ended", "state"),
    [
        (None, None, False, S.DIALLING),
        (None, None, True, S.NOT_REACHED),
        (T0, None, False, S.ON_CALL),
        # The call's status came before the leave: on the line until the leave says when.
        (T0, None, True, S.ON_CALL),
        (T0, T1, True, S.LEFT),
        (None, T1, False, S.LEFT),  # the leave came before its join
    ],
)
def test_a_participants_state(joined_at, left_at, call_ended, state) -> None:
    assert participant_state(joined_at=joined_at, left_at=left_at, call_ended=call_ended) is state


@pytest.mark.parametrize(
    ("states", "over"),
    [
        ([S.LEFT, S.NOT_REACHED], True),
        ([S.NOT_REACHED, S.NOT_REACHED], True),
        ([S.LEFT, S.DIALLING], False),  # somebody's phone still rings
        ([S.NOT_REACHED, S.ON_CALL], False),
        ([S.ON_CALL], False),
    ],
)
def test_a_conference_is_over_when_nobody_is_on_the_line_or_being_dialled(states, over) -> None:
    assert is_over(states) is over


@pytest.mark.parametrize(
    ("is_open", "is_participant", "has_left", "reply"),
    [
        (True, True, False, LegReply.JOIN),
        (False, True, False, LegReply.GONE),  # the conference ended while the phone rang
        (True, False, False, LegReply.GONE),  # a participant of another conference
        (True, True, True, LegReply.GONE),
    ],
)
def test_a_picked_up_leg_joins_only_an_open_conference_it_was_dialled_for(
    is_open, is_participant, has_left, reply
) -> None:
    assert leg_reply(is_open=is_open, is_participant=is_participant, has_left=has_left) is reply


E = EventEffect


@pytest.mark.parametrize(
    ("event", "is_open", "is_participant", "joined_at", "left_at", "effect"),
    [
        ("conference-start", True, False, None, None, E.KEEP_SID),
        ("conference-end", True, False, None, None, E.CLOSE),
        ("participant-join", True, True, None, None, E.RECORD_JOIN),
        ("participant-join", True, True, T0, None, E.NOTHING),  # a duplicate
        ("participant-join", True, True, None, T1, E.RECORD_JOIN),  # after its leave
        ("participant-join", True, False, None, None, E.NOTHING),  # a CallSid we never dialled
        ("participant-leave", True, True, T0, None, E.RECORD_LEAVE),
        ("participant-leave", True, True, None, None, E.RECORD_LEAVE),  # before its join
        ("participant-leave", True, True, T0, T1, E.NOTHING),  # a duplicate
        ("participant-mute", True, True, T0, None, E.NOTHING),
        ("participant-speech-start", True, True, T0, None, E.NOTHING),
        # Anything for a conference already over is late: nothing changes.
        ("conference-end", False, False, None, None, E.NOTHING),
        ("participant-join", False, True, None, None, E.NOTHING),
        ("participant-leave", False, True, T0, None, E.NOTHING),
        ("conference-start", False, False, None, None, E.NOTHING),
    ],
)
def test_what_each_conference_event_changes(
    event, is_open, is_participant, joined_at, left_at, effect
) -> None:
    got = event_effect(
        event,
        is_open=is_open,
        is_participant=is_participant,
        joined_at=joined_at,
        left_at=left_at,
    )
    assert got is effect


@pytest.mark.parametrize(
    ("joined_at", "left_at", "seconds"),
    [(T0, T1, 750), (T0, T0, 0), (T1, T0, 0), (None, T1, None), (T0, None, None)],
)
def test_seconds_on_the_call_are_whole_and_never_negative(joined_at, left_at, seconds) -> None:
    assert seconds_between(joined_at, left_at) == seconds


R = DialInReply


@pytest.mark.parametrize(
    ("tries", "digits", "found", "reply"),
    [
        (1, None, False, R.ASK),
        (2, None, False, R.ASK_AGAIN),  # silence at the first try
        (MAX_PIN_TRIES, None, False, R.ASK_AGAIN),
        (MAX_PIN_TRIES + 1, None, False, R.GOODBYE),  # silence three times
        (1, "123456", True, R.JOIN),
        (MAX_PIN_TRIES, "123456", True, R.JOIN),  # right at the last try
        (1, "999999", False, R.WRONG_PIN),
        (2, "12", False, R.WRONG_PIN),
        (MAX_PIN_TRIES, "999999", False, R.GOODBYE),
    ],
)
def test_the_dial_in_line_gives_three_tries_for_the_pin(tries, digits, found, reply) -> None:
    assert dial_in_reply(tries=tries, digits=digits, found=found) is reply


@pytest.mark.parametrize(
    ("digits", "shaped"),
    [("012345", True), ("12345", False), ("1234567", False), ("12345a", False)],
)
def test_only_six_digits_are_looked_up_as_a_pin(digits, shaped) -> None:
    assert is_pin_shaped(digits) is shaped
