"""A caller holding while the duty managers are rung for the escalation they just raised.

The turn that settles the escalation's message (``intake.turns``) starts the hold when the
escalation is new, still raised and the caller's call back is queued; from then on the hold is
a loop of webhooks (``/ivr/escalation/hold``) that each read the escalation's state through the
``EscalationDesk`` port and decide here, purely: keep holding (with a "still ringing" now and
then), a duty manager accepted (the caller hears who), or the call back promise once nobody
accepted within the hold (``[escalations] hold_seconds``, counted from the escalation's raise).

The polls are not turns of the call: they change nothing (the escalation is the truth, the
call back was queued when the hold began), so a retried or late poll only reads again, and a
caller who hangs up while holding loses nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from intake.call_input import CallContext
from intake.call_steps import Say
from intake.call_store import CallStore
from intake.catalog import Catalog
from intake.ports import CallEscalation, EscalationState
from intake.support_hours import spoken_duration

# Each round of the hold is a pause this long, then the next poll: a duty manager's accept is
# heard within seconds, and the polls stay few (about 15 in a two-minute hold).
HOLD_ROUND_SECONDS = 8
# While nobody has accepted, the caller hears "still ringing" about this often, not each round.
RINGING_EVERY_SECONDS = 30


class HoldOutcome(enum.StrEnum):
    """How a round of the hold ends."""

    HOLD = "hold"  # still ringing: pause and ask again
    ACCEPTED = "accepted"  # a duty manager accepted: who, and goodbye
    CALL_BACK = "call_back"  # nobody accepted in time: the call back promise, and goodbye
    GOODBYE = "goodbye"  # no escalation on this call: nothing to promise


@dataclass(frozen=True)
class HoldRound:
    """What the holding caller hears now, and how the hold goes on.

    ``pause_seconds`` and ``ringing_said_at`` (the seconds held when they last heard "still
    ringing", carried to the next round) matter only while the outcome is ``HOLD``.
    """

    outcome: HoldOutcome
    says: tuple[Say, ...]
    pause_seconds: int = 0
    ringing_said_at: int | None = None


def seconds_held(escalation: CallEscalation, now: datetime) -> int:
    """Whole seconds since the escalation was raised (never negative)."""
    return max(0, int((now - escalation.raised_at).total_seconds()))


def holds_for_duty_manager(
    escalation: CallEscalation | None, *, now: datetime, hold: timedelta, has_call_back: bool
) -> bool:
    """Whether the caller who settled the escalation's message holds for a duty manager.

    Only for an escalation this call raised (an SR already escalated is logged on its open
    escalation, whose managers were rung before) that nobody has taken yet, while the hold's
    time is not up, and only when a call back is queued: the hold may end with its promise.
    """
    if escalation is None or not has_call_back or hold <= timedelta(0):
        return False
    if escalation.state is not EscalationState.RAISED:
        return False
    return seconds_held(escalation, now) < hold.total_seconds()


# The end of a hold on a call with no escalation to hold for: nothing to promise.
GOODBYE = HoldRound(HoldOutcome.GOODBYE, (Say("goodbye"),))


def call_back_round(promise: str) -> HoldRound:
    """The end of a hold without a duty manager: the call back promise, and goodbye."""
    says = (Say("escalation_hold_call_back", values={"promise": promise}), Say("goodbye"))
    return HoldRound(HoldOutcome.CALL_BACK, says)


def hold_round(
    escalation: CallEscalation | None,
    *,
    now: datetime,
    hold: timedelta,
    ringing_said_at: int | None,
    promise: str,
) -> HoldRound:
    """The next round of the hold: ``promise`` is the call back's, spoken ("15 minutes")."""
    if escalation is None:
        return GOODBYE
    call_back = call_back_round(promise)
    if escalation.state is EscalationState.ACCEPTED:
        if escalation.owner_name is None:
            return call_back  # accepted by someone no longer on file: the promise still holds
        accepted = Say(
            "escalation_hold_accepted",
            values={"name": escalation.owner_name, "promise": promise},
        )
        return HoldRound(HoldOutcome.ACCEPTED, (accepted, Say("goodbye")))
    if escalation.state is not EscalationState.RAISED:
        return call_back  # flagged unowned (or already closed): nobody takes the call now
    held = seconds_held(escalation, now)
    left = int(hold.total_seconds()) - held
    if left <= 0:
        return call_back
    # The last round ends with the hold, not a round later.
    pause = min(HOLD_ROUND_SECONDS, left)
    if ringing_said_at is None or held - ringing_said_at >= RINGING_EVERY_SECONDS:
        return HoldRound(HoldOutcome.HOLD, (Say("escalation_hold_ringing"),), pause, held)
    return HoldRound(HoldOutcome.HOLD, (), pause, ringing_said_at)


def spoken_promise(catalog: Catalog, language: str) -> str:
    """The escalation's call back promise as the caller hears it ("15 Minuten")."""
    return spoken_duration(catalog.escalation_callback_promise, catalog.prompts_for(language))


def hold_not_read(catalog: Catalog, language: str, *, failed: bool) -> HoldRound:
    """The end of a hold whose call could not be read: the call back promise when reading
    failed (a hold begins only once its call back is committed), goodbye for a call never
    stored."""
    return call_back_round(spoken_promise(catalog, language)) if failed else GOODBYE


@dataclass(frozen=True)
class EscalationHold:
    """A round of the hold for one call, with the language it is spoken in."""

    region: str
    language: str
    escalation_id: int | None
    seconds_held: int
    round: HoldRound


def escalation_hold(
    session: Session, *, call_sid: str, ringing_said_at: int | None, context: CallContext
) -> EscalationHold | None:
    """The next round of the hold of ``call_sid``; None for a call never stored. Only reads."""
    found = CallStore(session.connection()).region_of(call_sid)
    if found is None:
        return None
    region, language = found
    catalog = context.catalog
    escalation = context.escalations.escalation_of_call(session, call_sid)
    promise = spoken_promise(catalog, language)
    decided = hold_round(
        escalation,
        now=context.now,
        hold=catalog.escalation_hold,
        ringing_said_at=ringing_said_at,
        promise=promise,
    )
    return EscalationHold(
        region=region,
        language=language,
        escalation_id=escalation.escalation_id if escalation is not None else None,
        seconds_held=seconds_held(escalation, context.now) if escalation is not None else 0,
        round=decided,
    )
