"""Load ``hotline.toml`` and ``prompts/<language>.toml`` into a validated ``Catalog``."""

from __future__ import annotations

import re
import string
import tomllib
from datetime import time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from config.prompt_keys import LIST_PROMPTS, PROMPT_KEYS
from intake.catalog import (
    END_OF_DAY,
    AgentLine,
    AgentLineKind,
    Catalog,
    HoursWindow,
    ProductLine,
    PromptSet,
    Region,
    SmsLimits,
)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class CatalogError(Exception):
    """The configuration is invalid; ``problems`` name the file and field of each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _AgentLine(_Strict):
    kind: Literal["queue"]
    target: str = Field(min_length=1)
    max_wait_seconds: int = Field(gt=0, le=3600)
    hold_music_url: str | None = None


class _Region(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    name: str
    numbers: list[str] = Field(min_length=1)
    language: str
    voice: str
    timezone: str
    country: str = Field(pattern=r"^[A-Z]{2}$")
    holiday_subdivision: str | None = None
    default_product_line: str
    sms_from: str | None = None
    # Countries callbacks may be placed to and SMS sent to; left out: the region's country.
    callback_countries: list[str] | None = None
    sms_countries: list[str] | None = None
    agent_line: _AgentLine
    # Escalation-only lines (US government): straight to escalating an SR, no menu.
    escalation_numbers: list[str] = []
    # The dial-in line of the region's escalation conference calls (latecomers type the PIN).
    conference_number: str | None = None

    @field_validator("callback_countries", "sms_countries")
    @classmethod
    def _known_countries(cls, countries: list[str] | None) -> list[str] | None:
        if countries is None:
            return None
        if not countries:
            raise ValueError("give at least one country, or leave it out for the region's own")
        for country in countries:
            # The codes phonenumbers' metadata knows, which is what numbers are judged on.
            if country not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"{country!r} is not an ISO 3166 country code like 'DE'")
        return countries

    @field_validator("numbers", "escalation_numbers")
    @classmethod
    def _e164_numbers(cls, numbers: list[str]) -> list[str]:
        for number in numbers:
            if not E164.match(number):
                raise ValueError(f"{number!r} is not an E.164 number like +498001006711")
        return numbers

    @field_validator("sms_from", "conference_number")
    @classmethod
    def _e164_sender(cls, number: str | None) -> str | None:
        if number is not None and not E164.match(number):
            raise ValueError(f"{number!r} is not an E.164 number")
        return number

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {zone!r}") from exc
        return zone


class _ProductLine(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    name: str
    products: list[str] = Field(min_length=1)
    callback_promise_minutes: int = Field(gt=0)
    promise_in_business_hours: bool = False
    hours: dict[str, str] | None = None
    callback_attempts: int = Field(default=3, ge=1, le=10)
    callback_retry_minutes: int = Field(default=10, gt=0, le=1440)
    callback_warn_minutes: int = Field(default=10, ge=0, le=1440)

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, hours: dict[str, str] | None) -> dict[str, str] | None:
        if hours is None:
            return None
        for day, span in hours.items():
            if day not in WEEKDAYS:
                raise ValueError(f"{day!r} is not a weekday (use {', '.join(WEEKDAYS)})")
            _parse_span(span)
        if not hours:
            raise ValueError("give at least one weekday, or leave hours out for 24x7")
        return hours


class _Sms(_Strict):
    per_destination_per_hour: int = Field(default=3, gt=0, le=100)
    per_hour: int = Field(default=100, gt=0)


class _Callbacks(_Strict):
    claim_minutes: int = Field(default=10, gt=0, le=240)
    ring_seconds: int = Field(default=25, ge=5, le=60)


class _Escalations(_Strict):
    daily_report_at: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    update_reminder_minutes: int = Field(default=30, gt=0, le=1440)
    # The duty manager's call back promised to a customer who escalates by phone.
    callback_minutes: int = Field(default=15, gt=0, le=1440)
    # How many times the duty managers' chain is rung through before it is flagged unowned.
    ring_rounds: int = Field(default=2, ge=1, le=10)
    # How long that customer holds while the duty managers are rung (0: no hold). Twilio keeps
    # a call up to 4 hours, but a caller is not kept waiting longer than 10 minutes.
    hold_seconds: int = Field(default=120, ge=0, le=600)

    @model_validator(mode="after")
    def _hold_within_the_promise(self) -> _Escalations:
        # A caller still holding when their call back falls due would be promised a call back
        # that is already late.
        if self.hold_seconds >= self.callback_minutes * 60:
            raise ValueError(
                f"hold_seconds ({self.hold_seconds}) must be shorter than callback_minutes"
                f" ({self.callback_minutes} minutes)"
            )
        return self


class _Config(_Strict):
    support_levels: list[str] = Field(min_length=1)
    sms: _Sms = _Sms()
    callbacks: _Callbacks = _Callbacks()
    escalations: _Escalations = _Escalations()
    product_lines: list[_ProductLine] = Field(min_length=1)
    regions: list[_Region] = Field(min_length=1)


class _Prompts(_Strict):
    version: str = Field(min_length=1)
    texts: dict[str, str]


def _parse_span(span: str) -> tuple[time, time]:
    match = HOURS.match(span)
    if match is None:
        raise ValueError(f"{span!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
        raise ValueError(f"{span!r} is not a valid time span")
    opens = time(h1, m1)
    closes = END_OF_DAY if (h2, m2) == (24, 0) else time(h2, m2)
    if closes <= opens:
        raise ValueError(f"{span!r}: closing must come after opening (no spans past midnight)")
    return opens, closes


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _problems(source: Path, error: ValidationError) -> list[str]:
    return [f"{source}: {_field_path(e['loc'])}: {e['msg']}" for e in error.errors()]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise CatalogError([f"{path}: file not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError([f"{path}: not valid TOML: {exc}"]) from None


def load_catalog(path: Path, prompts_dir: Path | None = None) -> Catalog:
    """Read and validate the configuration; raise ``CatalogError`` naming every bad field."""
    try:
        config = _Config.model_validate(_read_toml(path))
    except ValidationError as exc:
        raise CatalogError(_problems(path, exc)) from None
    problems: list[str] = []
    line_keys = [line.key for line in config.product_lines]
    _duplicates(problems, path, "product_lines", "key", line_keys)
    _duplicates(problems, path, "regions", "key", [r.key for r in config.regions])
    _duplicates(
        problems,
        path,
        "product_lines",
        "products",
        [p.casefold() for line in config.product_lines for p in line.products],
    )
    # A number belongs to one region and is a hotline, an escalation-only or a dial-in line.
    _duplicates(
        problems,
        path,
        "regions",
        "numbers",
        [
            n
            for r in config.regions
            for n in (*r.numbers, *r.escalation_numbers, r.conference_number)
            if n is not None
        ],
    )
    for i, region in enumerate(config.regions):
        if region.default_product_line not in line_keys:
            problems.append(
                f"{path}: regions[{i}].default_product_line: {region.default_product_line!r} is"
                f" not a product line key ({', '.join(line_keys)})"
            )
        calendars = holidays.list_supported_countries()
        if region.country not in calendars:
            problems.append(
                f"{path}: regions[{i}].country: no holiday calendar for {region.country!r}"
            )
        elif (
            region.holiday_subdivision is not None
            and region.holiday_subdivision not in calendars[region.country]
        ):
            problems.append(
                f"{path}: regions[{i}].holiday_subdivision: {region.holiday_subdivision!r} is not"
                f" a subdivision of {region.country} ({', '.join(calendars[region.country])})"
            )
    prompts_dir = prompts_dir or path.parent / "prompts"
    prompt_sets: dict[str, PromptSet] = {}
    for language in sorted({r.language for r in config.regions}):
        try:
            prompt_sets[language] = load_prompts(prompts_dir / f"{language}.toml", language)
        except CatalogError as exc:
            problems.extend(exc.problems)
    if problems:
        raise CatalogError(problems)
    return Catalog(
        regions=tuple(_region(r) for r in config.regions),
        product_lines=tuple(_product_line(line) for line in config.product_lines),
        support_levels=tuple(config.support_levels),
        prompts=prompt_sets,
        sms_limits=SmsLimits(
            per_destination_per_hour=config.sms.per_destination_per_hour,
            per_hour=config.sms.per_hour,
        ),
        callback_claim_expiry=timedelta(minutes=config.callbacks.claim_minutes),
        staff_ring_seconds=config.callbacks.ring_seconds,
        escalation_report_at=time.fromisoformat(config.escalations.daily_report_at),
        escalation_reminder_lead=timedelta(minutes=config.escalations.update_reminder_minutes),
        escalation_callback_promise=timedelta(minutes=config.escalations.callback_minutes),
        escalation_ring_rounds=config.escalations.ring_rounds,
        escalation_hold=timedelta(seconds=config.escalations.hold_seconds),
    )


def _duplicates(problems: list[str], path: Path, table: str, field: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            problems.append(f"{path}: {table}.{field}: {value!r} appears more than once")
        seen.add(value)


def load_prompts(path: Path, language: str) -> PromptSet:
    """Read one language's prompts; every key must be there, using only its own fields."""
    try:
        prompts = _Prompts.model_validate(_read_toml(path))
    except ValidationError as exc:
        raise CatalogError(_problems(path, exc)) from None
    problems = []
    for key, allowed in PROMPT_KEYS.items():
        text = prompts.texts.get(key)
        if text is None:
            problems.append(f"{path}: texts.{key}: missing")
            continue
        try:
            used = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        except ValueError as exc:
            problems.append(f"{path}: texts.{key}: {exc}")
            continue
        if key in LIST_PROMPTS:
            items = [item.strip() for item in text.split(",")]
            if len(items) != LIST_PROMPTS[key] or not all(items):
                problems.append(
                    f"{path}: texts.{key}: give {LIST_PROMPTS[key]} non-empty names separated"
                    f" by commas, not {text!r}"
                )
            continue
        if key == "datetime_format":
            continue
        unknown = used - allowed
        if unknown:
            problems.append(
                f"{path}: texts.{key}: unknown field(s) {', '.join(sorted(unknown))}"
                f" (allowed: {', '.join(sorted(allowed)) or 'none'})"
            )
            continue
        try:  # filled in as the call flow fills it: every value is text
            text.format(**dict.fromkeys(allowed, "x"))
        except (ValueError, IndexError, KeyError) as exc:
            problems.append(f"{path}: texts.{key}: cannot be filled in ({exc!r})")
    for key in sorted(set(prompts.texts) - set(PROMPT_KEYS)):
        problems.append(f"{path}: texts.{key}: not a known prompt")
    if problems:
        raise CatalogError(problems)
    return PromptSet(language=language, version=prompts.version, texts=dict(prompts.texts))


def _region(region: _Region) -> Region:
    line = region.agent_line
    return Region(
        key=region.key,
        name=region.name,
        numbers=tuple(region.numbers),
        language=region.language,
        voice=region.voice,
        timezone=region.timezone,
        country=region.country,
        holiday_subdivision=region.holiday_subdivision,
        agent_line=AgentLine(
            kind=AgentLineKind(line.kind),
            target=line.target,
            max_wait=timedelta(seconds=line.max_wait_seconds),
            hold_music_url=line.hold_music_url,
        ),
        default_product_line=region.default_product_line,
        sms_from=region.sms_from,
        callback_countries=tuple(region.callback_countries or (region.country,)),
        sms_countries=tuple(region.sms_countries or (region.country,)),
        escalation_numbers=tuple(region.escalation_numbers),
        conference_number=region.conference_number,
    )


def _product_line(line: _ProductLine) -> ProductLine:
    windows = None
    if line.hours is not None:
        windows = tuple(
            HoursWindow(WEEKDAYS.index(day), *_parse_span(span))
            for day, span in sorted(line.hours.items(), key=lambda kv: WEEKDAYS.index(kv[0]))
        )
    return ProductLine(
        key=line.key,
        name=line.name,
        products=tuple(line.products),
        hours=windows,
        callback_promise=timedelta(minutes=line.callback_promise_minutes),
        promise_in_business_hours=line.promise_in_business_hours,
        callback_attempts=line.callback_attempts,
        callback_retry_interval=timedelta(minutes=line.callback_retry_minutes),
        callback_warn_before=timedelta(minutes=line.callback_warn_minutes),
    )
