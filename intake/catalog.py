"""Regions, product lines and support hours as plain values (loaded by ``config.catalog``)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from intake.number_policy import NumberPolicy


class AgentLineKind(enum.StrEnum):
    """How the caller reaches an agent."""

    # <Enqueue> into a named queue that agents take callers from (their acceptance), with hold
    # announcements, the callback key, and a message after the maximum wait.
    QUEUE = "queue"


# A window that closes at "24:00" closes at the last instant of its day.
END_OF_DAY = time(23, 59, 59, 999999)


@dataclass(frozen=True)
class HoursWindow:
    """One weekday's opening window in local time (``weekday`` 0 = Monday)."""

    weekday: int
    opens: time
    closes: time


@dataclass(frozen=True)
class ProductLine:
    """A group of products sharing support hours and a callback promise."""

    key: str
    name: str
    products: tuple[str, ...]
    # None means staffed around the clock (24x7).
    hours: tuple[HoursWindow, ...] | None
    callback_promise: timedelta
    # True: the promise counts only business hours (desktop: "within 24 hours" of open time).
    promise_in_business_hours: bool
    # Calls to the customer before a callback is closed "unreachable", and the pause between.
    callback_attempts: int = 3
    callback_retry_interval: timedelta = timedelta(minutes=10)
    # How long before the due time an unclaimed callback's managers are warned.
    callback_warn_before: timedelta = timedelta(minutes=10)

    @property
    def is_24x7(self) -> bool:
        """Whether phones are staffed at all hours."""
        return self.hours is None


@dataclass(frozen=True)
class AgentLine:
    """Where the call goes to reach a human, and how long the caller may wait."""

    kind: AgentLineKind
    target: str
    max_wait: timedelta
    # Played while waiting in the queue; None plays silence between the hold announcements.
    hold_music_url: str | None = None


@dataclass(frozen=True)
class PromptSet:
    """Everything the caller hears in one language; ``version`` is stored with consents."""

    language: str
    version: str
    texts: Mapping[str, str]

    def text(self, prompt_key: str, /, **values: str) -> str:
        """The prompt ``prompt_key`` with ``values`` filled in."""
        return self.texts[prompt_key].format(**values)

    def items(self, prompt_key: str, /) -> tuple[str, ...]:
        """A comma-separated list prompt (weekday names, a.m./p.m.) as its items."""
        return tuple(item.strip() for item in self.texts[prompt_key].split(","))


@dataclass(frozen=True)
class Region:
    """A regional hotline: its numbers, language, voice, time zone and holidays."""

    key: str
    name: str
    numbers: tuple[str, ...]
    language: str
    voice: str
    timezone: str
    country: str  # ISO 3166 alpha-2: default for typed phone numbers and the holiday calendar
    holiday_subdivision: str | None
    agent_line: AgentLine
    # Product line used for callers we could not identify (the stricter promise is the safe one).
    default_product_line: str
    # Sender of confirmation SMS (toll-free numbers often cannot send SMS); None: first number.
    sms_from: str | None = None
    # Where callbacks are placed and SMS sent (ISO 3166 alpha-2); empty: the region's country.
    # Every other country is refused: a toll-free line must not pay for calls and texts abroad.
    callback_countries: tuple[str, ...] = ()
    sms_countries: tuple[str, ...] = ()
    # Escalation-only lines (the US government lines): no menu, straight to escalating an SR,
    # and the escalation is marked "US government".
    escalation_numbers: tuple[str, ...] = ()
    # Where latecomers dial in to an escalation's conference call with its PIN (its voice
    # webhook is /ivr/conference/dial-in); None: the region's conferences have no dial-in.
    conference_number: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        """The region's time zone."""
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class SmsLimits:
    """How many confirmation SMS may go out per hour: to one number, and in all.

    A toll-free line that texts whatever number a caller leaves is an SMS pumping route; the
    limits cap what one number, or a flood of calls, can cost.
    """

    per_destination_per_hour: int = 3
    per_hour: int = 100


@dataclass(frozen=True)
class Catalog:
    """All configured regions, product lines, support levels and prompts."""

    regions: tuple[Region, ...]
    product_lines: tuple[ProductLine, ...]
    support_levels: tuple[str, ...]
    prompts: Mapping[str, PromptSet]
    sms_limits: SmsLimits = SmsLimits()
    # A claimed callback nobody works on returns to the queue after this long.
    callback_claim_expiry: timedelta = timedelta(minutes=10)
    # How long an agent's or a duty manager's phone rings before we count it unanswered: below
    # the usual voicemail pickup (about 25-30 s), so a mailbox does not take the call.
    staff_ring_seconds: int = 25
    # When (region's local time) each region's escalation managers get the daily report, and
    # how long before a promised update the escalation engineer is reminded.
    escalation_report_at: time = time(8, 0)
    escalation_reminder_lead: timedelta = timedelta(minutes=30)
    # A customer who escalates by phone is called back by a duty manager within this long.
    escalation_callback_promise: timedelta = timedelta(minutes=15)
    # The duty managers' chain is rung through this many times, then flagged unowned.
    escalation_ring_rounds: int = 2
    # How long that customer holds while the duty managers are rung, to hear one accept; zero:
    # no hold (they hear the promise and the call ends).
    escalation_hold: timedelta = timedelta(seconds=120)
    _by_number: dict[str, Region] = field(init=False, repr=False, compare=False)
    _by_conference_number: dict[str, Region] = field(init=False, repr=False, compare=False)
    _by_product: dict[str, ProductLine] = field(init=False, repr=False, compare=False)
    # Each region's number policy, made once: every webhook turn judges the caller ID by it.
    _policies: dict[str, tuple[Region, NumberPolicy]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "_by_number",
            {n: r for r in self.regions for n in (*r.numbers, *r.escalation_numbers)},
        )
        object.__setattr__(
            self,
            "_by_conference_number",
            {r.conference_number: r for r in self.regions if r.conference_number is not None},
        )
        object.__setattr__(
            self,
            "_by_product",
            {p.casefold(): line for line in self.product_lines for p in line.products},
        )
        object.__setattr__(
            self, "_policies", {r.key: (r, self._new_number_policy(r)) for r in self.regions}
        )

    def region_for_number(self, number: str) -> Region | None:
        """The region whose toll-free number (or escalation-only line) was dialled, if any."""
        return self._by_number.get(number)

    def region_for_conference_number(self, number: str) -> Region | None:
        """The region whose conference dial-in number was dialled, if any."""
        return self._by_conference_number.get(number)

    def is_escalation_number(self, number: str) -> bool:
        """Whether ``number`` is an escalation-only line (a US government line)."""
        region = self._by_number.get(number)
        return region is not None and number in region.escalation_numbers

    def number_policy(self, region: Region) -> NumberPolicy:
        """The numbers ``region`` calls back and texts; every region's own numbers (hotline,
        escalation and conference dial-in lines) are refused."""
        known = self._policies.get(region.key)
        if known is not None and known[0] is region:
            return known[1]
        return self._new_number_policy(region)

    def _new_number_policy(self, region: Region) -> NumberPolicy:
        return NumberPolicy(
            country=region.country,
            callback_countries=frozenset(region.callback_countries or (region.country,)),
            sms_countries=frozenset(region.sms_countries or (region.country,)),
            own_numbers=frozenset(self._by_number) | frozenset(self._by_conference_number),
        )

    def region(self, key: str) -> Region:
        """The region with ``key``."""
        for region in self.regions:
            if region.key == key:
                return region
        raise KeyError(key)

    def product_line_for(self, product: str) -> ProductLine | None:
        """The product line a product belongs to (case-insensitive)."""
        return self._by_product.get(product.casefold())

    def product_line(self, key: str) -> ProductLine:
        """The product line with ``key``."""
        for line in self.product_lines:
            if line.key == key:
                return line
        raise KeyError(key)

    def canonical_product(self, product: str) -> str | None:
        """The configured spelling of ``product``, or None when it is unknown."""
        for line in self.product_lines:
            for name in line.products:
                if name.casefold() == product.casefold():
                    return name
        return None

    def prompts_for(self, language: str) -> PromptSet:
        """The prompt set of ``language``."""
        return self.prompts[language]
