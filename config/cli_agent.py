"""``hotline answer``: a staff member's phone in the terminal, for the calls the hotline places
(an agent's callback call, a duty manager's escalation ring).

Without Twilio credentials the worker logs outbound calls instead of placing them (the
log-only dialer) and records them as placed; this command takes the next such call to the
agent's phone from the database and walks its TwiML as Twilio would, with signed requests:
the agent hears the whisper and presses keys, and the customer's phone is a prompt.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

import click

from config.cli_support import refuse
from config.cli_support import settings_or_exit as _settings

# How often the database is asked for a new call while waiting.
POLL_SECONDS = 0.5
# A call placed this long before the command started still rings (the ring time).
RINGING_GRACE = timedelta(seconds=25)
CUSTOMER_CHOICES = {"h": "human", "m": "machine", "b": "busy", "n": "no-answer"}
PHONE_CHOICES = {"a": None, "n": "no-answer", "b": "busy"}
# A call placed with machine detection (a duty manager's ring) can reach a voicemail too.
VOICEMAIL = "m"
MACHINE = "machine_start"


def _customer(number: str) -> str:
    """The customer's phone, played by the person at the terminal."""
    choice = click.prompt(
        f"  the customer's phone {number} rings: [h]uman answers, [m]achine, [b]usy, [n]o answer",
        type=click.Choice(sorted(CUSTOMER_CHOICES)),
        default="h",
    )
    return CUSTOMER_CHOICES[choice]


@click.command()
@click.option(
    "--as", "name", required=True, metavar="NAME", help="The staff member whose phone rings."
)
@click.option("--url", default=None, help="Base URL of the running server.")
@click.option(
    "--wait",
    "wait_seconds",
    default=600.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds to wait for a call.",
)
def answer(name: str, url: str | None, wait_seconds: float) -> None:
    """Wait for the next call the hotline places to NAME's phone and answer it here."""
    from config.clock import SystemClock
    from db.engine import make_engine
    from db.transaction import make_session_factory, read_transaction
    from intake.outbound_calls import PlacedCall, next_placed_call
    from intake.staff import UnknownUser, staff_member
    from ivr.call_walker import CallWalker, WalkerError
    from ivr.walker_transport import requests_transport

    settings = _settings()
    base = (url or settings.public_base_url or "http://127.0.0.1:8000").rstrip("/")
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    try:
        with read_transaction(factory) as session:
            member = staff_member(session, name=name)
        phone = member.phone
        if not phone:
            refuse([f"{name} has no phone number (hotline user add {name} --phone +49...)"])
            return
        click.echo(f"{name}'s phone {phone} waits for a call (Ctrl-C stops)")
        since = SystemClock().now() - RINGING_GRACE
        deadline = time.monotonic() + wait_seconds
        call: PlacedCall | None = None
        while call is None:
            with read_transaction(factory) as session:
                call = next_placed_call(session, to=phone, since=since)
            if call is None:
                if time.monotonic() > deadline:
                    refuse([f"no call to {phone} within {wait_seconds:g} s"])
                time.sleep(POLL_SECONDS)
    except UnknownUser:
        refuse([f"no user {name!r}"])
        return
    finally:
        engine.dispose()

    shown = 0

    def show_heard() -> None:
        nonlocal shown
        for line in walker.heard[shown:]:
            click.echo(f"  < {line}")
        shown = len(walker.heard)

    def customer(number: str) -> str:
        show_heard()  # what the agent heard before the customer's phone rang
        return _customer(number)

    walker = CallWalker(
        transport=requests_transport(),
        base_url=base,
        auth_token=settings.webhook_auth_token,
        to=call.to,
        from_=call.from_,
        status_callback=call.status_callback,
        callee=customer,
    )
    if call.call_sid:
        walker.call_sid = call.call_sid  # the SID the dialer was given, as Twilio would send
    try:
        choices = sorted({*PHONE_CHOICES, *((VOICEMAIL,) if call.machine_detection else ())})
        voicemail = ", [m]ailbox answers" if call.machine_detection else ""
        picked = click.prompt(
            f"ring ring: a call from {call.from_} ({call.key}): [a]nswer, [n]o answer, [b]usy"
            f"{voicemail}",
            type=click.Choice(choices),
            default="a",
        )
        unanswered = PHONE_CHOICES.get(picked)
        if picked != VOICEMAIL and unanswered is not None:
            walker.not_answered(unanswered)
            click.echo(f"[not answered: {unanswered}]")
            return
        answered_by = (
            MACHINE if picked == VOICEMAIL else "human" if call.machine_detection else None
        )
        walker.answer(call.url, answered_by=answered_by)
        show_heard()
        while not walker.ended and walker.listening is not None:
            try:
                keys = click.prompt("keys (Enter = silence)", default="", show_default=False)
            except click.Abort:
                walker.hang_up()
                click.echo("\n[you hung up]")
                break
            keys = keys.strip()
            if keys:
                walker.press(keys)
            else:
                walker.silence()
            show_heard()
    except WalkerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"error: cannot reach {base}: {exc}", err=True)
        sys.exit(1)
    if walker.ended:
        click.echo("[call ended]")
