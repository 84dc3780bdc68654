"""Every move of a callback's life, allowed and forbidden, as a table (pure, no database)."""

from __future__ import annotations

import pytest

from callbacks.lifecycle import (
    ALLOWED_FROM,
    Disposition,
    Forbidden,
    Move,
    Outcome,
    decide_move,
)
from callbacks.models import CallbackStatus as S

D = Disposition

# (move, from, disposition, attempts made, allowed) -> outcome
ALLOWED = [
    (Move.CLAIM, S.QUEUED, None, 0, 3, Outcome(S.CLAIMED)),
    (Move.RELEASE, S.CLAIMED, None, 0, 3, Outcome(S.QUEUED)),
    (Move.EXPIRE, S.CLAIMED, None, 0, 3, Outcome(S.QUEUED)),
    (Move.START_CALL, S.CLAIMED, None, 0, 3, Outcome(S.CALLING)),
    (Move.AGENT_DECLINED, S.CALLING, None, 0, 3, Outcome(S.QUEUED)),
    (Move.AGENT_ACCEPTED, S.CALLING, None, 0, 3, Outcome(S.CALLING)),
    (Move.CALL_LOST, S.CALLING, None, 0, 3, Outcome(S.QUEUED)),
    (Move.CUSTOMER_REACHED, S.CALLING, None, 0, 3, Outcome(S.CLAIMED, counts_attempt=True)),
    (
        Move.CUSTOMER_NOT_REACHED,
        S.CALLING,
        None,
        0,
        3,
        Outcome(S.QUEUED, counts_attempt=True, is_retry=True),
    ),
    (
        Move.CUSTOMER_NOT_REACHED,
        S.CALLING,
        None,
        1,
        3,
        Outcome(S.QUEUED, counts_attempt=True, is_retry=True),
    ),
    (Move.CUSTOMER_NOT_REACHED, S.CALLING, None, 2, 3, Outcome(S.UNREACHABLE, counts_attempt=True)),
    (Move.DISPOSITION, S.CLAIMED, D.REACHED_RESOLVED, 1, 3, Outcome(S.DONE)),
    (Move.DISPOSITION, S.CLAIMED, D.REACHED_SR_UPDATED, 1, 3, Outcome(S.DONE)),
    (Move.DISPOSITION, S.CLAIMED, D.WRONG_NUMBER, 0, 3, Outcome(S.DONE)),
    (Move.DISPOSITION, S.CALLING, D.REACHED_RESOLVED, 0, 3, Outcome(S.DONE, counts_attempt=True)),
    (
        Move.DISPOSITION,
        S.CLAIMED,
        D.NO_ANSWER,
        0,
        3,
        Outcome(S.QUEUED, counts_attempt=True, is_retry=True),
    ),
    (Move.DISPOSITION, S.CLAIMED, D.BUSY, 2, 3, Outcome(S.UNREACHABLE, counts_attempt=True)),
    (
        Move.DISPOSITION,
        S.CLAIMED,
        D.VOICEMAIL_LEFT,
        1,
        3,
        Outcome(S.QUEUED, counts_attempt=True, is_retry=True),
    ),
    (Move.DISPOSITION, S.CLAIMED, D.ANOTHER_TIME, 0, 3, Outcome(S.QUEUED, is_retry=True)),
    (Move.RESCHEDULE, S.QUEUED, None, 0, 3, Outcome(S.QUEUED, is_retry=True)),
    (Move.RESCHEDULE, S.CLAIMED, None, 0, 3, Outcome(S.QUEUED, is_retry=True)),
]


@pytest.mark.parametrize(
    ("move", "status", "disposition", "made", "allowed", "expected"),
    ALLOWED,
    ids=[f"{row[0].value}-from-{row[1].value}-{row[2] or ''}-{row[3]}" for row in ALLOWED],
)
def test_an_allowed_move_leads_where_the_lifecycle_says(
    move: Move,
    status: S,
    disposition: Disposition | None,
    made: int,
    allowed: int,
    expected: Outcome,
) -> None:
    outcome = decide_move(
        move, status, disposition=disposition, attempts_made=made, attempts_allowed=allowed
    )
    assert outcome == expected


FORBIDDEN = [(move, status) for move in Move for status in S if status not in ALLOWED_FROM[move]]


@pytest.mark.parametrize(
    ("move", "status"), FORBIDDEN, ids=[f"{m.value}-from-{s.value}" for m, s in FORBIDDEN]
)
def test_every_other_move_is_forbidden_and_says_from_where(move: Move, status: S) -> None:
    with pytest.raises(Forbidden) as refused:
        decide_move(move, status, disposition=Disposition.REACHED_RESOLVED)
    assert refused.value.status is status
    assert status.value in str(refused.value)


def test_closed_callbacks_take_no_move_at_all() -> None:
    for status in (S.DONE, S.UNREACHABLE, S.CANCELLED):
        assert all(status not in sources for sources in ALLOWED_FROM.values())


def test_every_allowed_move_of_the_table_is_covered() -> None:
    covered = {(row[0], row[1]) for row in ALLOWED}
    assert covered == {(m, s) for m, sources in ALLOWED_FROM.items() for s in sources}
