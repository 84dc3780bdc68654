"""The shipped configuration loads; a malformed one is refused naming the file and field."""

from __future__ import annotations

import shutil
from datetime import time, timedelta
from pathlib import Path

import pytest

from config.catalog import PROMPT_KEYS, CatalogError, load_catalog
from config.settings import DEFAULT_CONFIG
from intake.catalog import AgentLineKind, HoursWindow

SHIPPED = Path(DEFAULT_CONFIG)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A copy of the shipped configuration to spoil."""
    shutil.copy(SHIPPED, tmp_path / "hotline.toml")
    shutil.copytree(SHIPPED.parent / "prompts", tmp_path / "prompts")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def problems_of(config_dir: Path) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(config_dir / "hotline.toml")
    return caught.value.problems


def test_the_shipped_configuration_has_germany_and_the_us():
    catalog = load_catalog(SHIPPED)
    germany = catalog.region_for_number("+498001006711")
    us = catalog.region_for_number("+18005550199")
    assert germany is not None
    assert us is not None
    assert (germany.key, germany.language, germany.timezone, germany.country) == (
        "de",
        "de-DE",
        "Europe/Berlin",
        "DE",
    )
    assert (us.key, us.language, us.timezone) == ("us", "en-US", "America/New_York")
    assert germany.agent_line.kind is AgentLineKind.QUEUE
    assert germany.agent_line.max_wait == timedelta(seconds=120)
    assert set(catalog.prompts) == {"de-DE", "en-US"}


def test_desktop_products_are_staffed_on_weekdays_from_six_to_six():
    catalog = load_catalog(SHIPPED)
    desktop = catalog.product_line_for("workstation")
    assert desktop is not None
    assert desktop.key == "desktop"
    assert desktop.hours == tuple(HoursWindow(day, time(6), time(18)) for day in range(5))
    assert desktop.callback_promise == timedelta(hours=24)
    assert desktop.promise_in_business_hours


def test_other_products_are_staffed_around_the_clock_with_a_thirty_minute_promise():
    catalog = load_catalog(SHIPPED)
    line = catalog.product_line_for("vSphere")
    assert line is not None
    assert line.is_24x7
    assert line.callback_promise == timedelta(minutes=30)
    assert not line.promise_in_business_hours


def test_every_prompt_the_code_uses_is_in_both_shipped_languages():
    catalog = load_catalog(SHIPPED)
    for prompts in catalog.prompts.values():
        assert set(prompts.texts) == set(PROMPT_KEYS)
        assert prompts.version


def test_a_number_not_in_e164_is_named(config_dir):
    edit(config_dir / "hotline.toml", '"+498001006711"', '"08001006711"')
    [problem] = problems_of(config_dir)
    assert "hotline.toml: regions[0].numbers: " in problem
    assert "'08001006711' is not an E.164 number" in problem


def test_an_unknown_time_zone_is_named(config_dir):
    edit(config_dir / "hotline.toml", '"Europe/Berlin"', '"Europe/Bonn"')
    [problem] = problems_of(config_dir)
    assert "regions[0].timezone" in problem
    assert "unknown time zone 'Europe/Bonn'" in problem


def test_an_unknown_default_product_line_is_named(config_dir):
    edit(
        config_dir / "hotline.toml",
        'default_product_line = "datacenter"',
        'default_product_line = "mainframe"',
    )
    [problem] = problems_of(config_dir)
    assert problem.endswith(
        "hotline.toml: regions[0].default_product_line: 'mainframe' is not a product line key"
        " (desktop, datacenter)"
    )


def test_a_missing_prompt_is_named_with_its_file(config_dir):
    edit(config_dir / "prompts" / "en-US.toml", 'goodbye = "Thank you for calling. Goodbye."\n', "")
    [problem] = problems_of(config_dir)
    assert problem.endswith("en-US.toml: texts.goodbye: missing")


def test_an_unknown_field_in_a_prompt_is_named_with_the_allowed_ones(config_dir):
    edit(
        config_dir / "prompts" / "de-DE.toml",
        'sr_number = "Ihre Support-Anfrage hat die Nummer {sr_number}."',
        'sr_number = "Ihre Support-Anfrage {nummer}."',
    )
    [problem] = problems_of(config_dir)
    assert problem.endswith(
        "de-DE.toml: texts.sr_number: unknown field(s) nummer (allowed: sr_number)"
    )


def test_a_prompt_the_code_does_not_know_is_named(config_dir):
    edit(config_dir / "prompts" / "de-DE.toml", "[texts]\n", '[texts]\ngruezi = "Grüezi"\n')
    [problem] = problems_of(config_dir)
    assert "de-DE.toml: texts.gruezi: not a known prompt" in problem


@pytest.mark.parametrize(
    ("prompt", "complaint"),
    [
        ('promise_minutes = "{count:d} minutes"', "Unknown format code 'd'"),
        ('hours_days = "{} to {last}"', "IndexError"),
        ('hours_span = "{days} from {opens to {closes}"', "unexpected '{'"),
    ],
)
def test_a_prompt_that_cannot_be_filled_in_is_named(config_dir, prompt, complaint):
    key = prompt.split(" = ")[0]
    path = config_dir / "prompts" / "en-US.toml"
    text = path.read_text()
    [line] = [line for line in text.splitlines() if line.startswith(f"{key} = ")]
    edit(path, line, prompt)
    [problem] = problems_of(config_dir)
    assert f"en-US.toml: texts.{key}: " in problem
    assert complaint in problem


@pytest.mark.parametrize(
    "names",
    [
        "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday",
        "Monday, Tuesday, Wednesday, Thursday, Friday, , Sunday",
    ],
)
def test_a_weekday_list_without_seven_names_is_named(config_dir, names):
    edit(
        config_dir / "prompts" / "en-US.toml",
        'weekday_names = "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday"',
        f'weekday_names = "{names}"',
    )
    [problem] = problems_of(config_dir)
    assert problem.endswith(
        "en-US.toml: texts.weekday_names: give 7 non-empty names separated by commas,"
        f" not {names!r}"
    )


@pytest.mark.parametrize(
    ("span", "complaint"),
    [
        ("18:00-06:00", "closing must come after opening"),
        ("25:00-26:00", "is not a valid time span"),
        ("6-18", "is not HH:MM-HH:MM"),
    ],
)
def test_a_bad_hours_span_is_named(config_dir, span, complaint):
    edit(config_dir / "hotline.toml", 'monday = "06:00-18:00"', f'monday = "{span}"')
    [problem] = problems_of(config_dir)
    assert "product_lines[0].hours" in problem
    assert complaint in problem


def test_a_misspelt_weekday_is_named(config_dir):
    edit(config_dir / "hotline.toml", 'monday = "06:00-18:00"', 'montag = "06:00-18:00"')
    [problem] = problems_of(config_dir)
    assert "'montag' is not a weekday" in problem


def test_a_number_given_to_two_regions_is_named(config_dir):
    edit(config_dir / "hotline.toml", '"+18005550199"', '"+498001006711"')
    [problem] = problems_of(config_dir)
    assert problem.endswith("regions.numbers: '+498001006711' appears more than once")


def test_a_product_in_two_lines_is_named(config_dir):
    edit(config_dir / "hotline.toml", '"vSphere", ', '"vSphere", "fusion", ')
    [problem] = problems_of(config_dir)
    assert problem.endswith("product_lines.products: 'fusion' appears more than once")


def test_a_toml_syntax_error_names_the_file(config_dir):
    edit(config_dir / "hotline.toml", 'key = "desktop"', 'key = "desktop')
    [problem] = problems_of(config_dir)
    assert str(config_dir / "hotline.toml") in problem
    assert "not valid TOML" in problem


def test_an_unknown_setting_is_refused_not_ignored(config_dir):
    edit(
        config_dir / "hotline.toml",
        'voice = "Polly.Vicki-Neural"',
        'voice = "Polly.Vicki-Neural"\nvoise = "x"',
    )
    [problem] = problems_of(config_dir)
    assert "regions[0].voise" in problem


def test_a_missing_prompts_file_is_named(config_dir):
    (config_dir / "prompts" / "en-US.toml").unlink()
    [problem] = problems_of(config_dir)
    assert problem.endswith("en-US.toml: file not found")


def test_every_problem_is_reported_at_once(config_dir):
    edit(
        config_dir / "hotline.toml",
        'default_product_line = "datacenter"',
        'default_product_line = "x"',
    )
    edit(config_dir / "hotline.toml", '"+18005550199"', '"+498001006711"')
    edit(config_dir / "prompts" / "en-US.toml", 'goodbye = "Thank you for calling. Goodbye."\n', "")
    assert len(problems_of(config_dir)) == 3


def test_a_country_without_a_holiday_calendar_is_named(config_dir):
    edit(config_dir / "hotline.toml", 'country = "DE"', 'country = "XZ"')
    assert problems_of(config_dir) == [
        f"{config_dir / 'hotline.toml'}: regions[0].country: no holiday calendar for 'XZ'"
    ]


def test_an_unknown_holiday_subdivision_is_named(config_dir):
    edit(
        config_dir / "hotline.toml", 'country = "DE"', 'country = "DE"\nholiday_subdivision = "XX"'
    )
    [problem] = problems_of(config_dir)
    assert problem.startswith(
        f"{config_dir / 'hotline.toml'}: regions[0].holiday_subdivision: 'XX' is not a"
        " subdivision of DE (BB, BE, BW, BY"
    )


def test_a_regions_federal_state_gives_its_own_holidays(config_dir):
    from datetime import date

    from intake.support_hours import is_public_holiday

    edit(
        config_dir / "hotline.toml", 'country = "DE"', 'country = "DE"\nholiday_subdivision = "BY"'
    )
    bavaria = load_catalog(config_dir / "hotline.toml").regions[0]

    assert bavaria.holiday_subdivision == "BY"
    assert is_public_holiday(bavaria, date(2027, 1, 6)) is True  # Epiphany, Bavaria only
    assert is_public_holiday(bavaria, date(2027, 3, 8)) is False  # Women's Day, Berlin only


def test_callbacks_and_sms_stay_in_the_regions_own_country_by_default(config_dir):
    edit(config_dir / "hotline.toml", 'callback_countries = ["DE"]\n', "")
    edit(config_dir / "hotline.toml", 'sms_countries = ["DE"]\n', "")
    catalog = load_catalog(config_dir / "hotline.toml")
    policy = catalog.number_policy(catalog.region("de"))
    assert (policy.callback_countries, policy.sms_countries) == ({"DE"}, {"DE"})
    # Every region's hotline numbers are refused as callback numbers, not only its own, and
    # so are the escalation-only lines.
    assert policy.own_numbers == {
        "+498001006711",
        "+18005550199",
        "+18778692730",
        "+16508462060",
    }


def test_a_region_may_call_back_in_more_countries_than_it_texts(config_dir):
    edit(
        config_dir / "hotline.toml",
        'callback_countries = ["DE"]',
        'callback_countries = ["DE", "AT"]',
    )
    catalog = load_catalog(config_dir / "hotline.toml")
    policy = catalog.number_policy(catalog.region("de"))
    assert (policy.callback_countries, policy.sms_countries) == ({"DE", "AT"}, {"DE"})


@pytest.mark.parametrize(
    ("countries", "complaint"),
    [
        ('["DE", "XZ"]', "'XZ' is not an ISO 3166 country code like 'DE'"),
        ("[]", "give at least one country, or leave it out for the region's own"),
    ],
)
def test_an_unknown_sms_country_is_named(config_dir, countries, complaint):
    edit(config_dir / "hotline.toml", 'sms_countries = ["DE"]', f"sms_countries = {countries}")
    [problem] = problems_of(config_dir)
    assert problem.startswith(f"{config_dir / 'hotline.toml'}: regions[0].sms_countries: ")
    assert complaint in problem


def test_the_sms_limits_default_to_three_per_number_an_hour(config_dir):
    edit(config_dir / "hotline.toml", "per_destination_per_hour = 3\n", "")
    limits = load_catalog(config_dir / "hotline.toml").sms_limits
    assert (limits.per_destination_per_hour, limits.per_hour) == (3, 100)


def test_a_zero_sms_limit_is_named(config_dir):
    edit(config_dir / "hotline.toml", "per_hour = 100", "per_hour = 0")
    [problem] = problems_of(config_dir)
    assert problem.startswith(f"{config_dir / 'hotline.toml'}: sms.per_hour: ")


def test_the_us_government_lines_are_escalation_only_lines_of_the_us_region():
    catalog = load_catalog(SHIPPED)
    for number in ("+18778692730", "+16508462060"):
        region = catalog.region_for_number(number)
        assert region is not None
        assert (region.key, region.language) == ("us", "en-US")
        assert catalog.is_escalation_number(number)
    assert not catalog.is_escalation_number("+18005550199")
    assert not catalog.is_escalation_number("+498001006711")
    assert not catalog.is_escalation_number("+15555550100")


def test_an_escalation_number_not_in_e164_is_named(config_dir):
    edit(config_dir / "hotline.toml", '"+18778692730"', '"1-877-869-2730"')
    [problem] = problems_of(config_dir)
    assert "hotline.toml: regions[1].escalation_numbers: " in problem
    assert "'1-877-869-2730' is not an E.164 number" in problem


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"+16508462060"', '"+18778692730"'),  # twice in the same list
        ('"+16508462060"', '"+18005550199"'),  # the region's own hotline number
        ('"+16508462060"', '"+498001006711"'),  # another region's hotline number
    ],
)
def test_an_escalation_number_used_twice_is_named(config_dir, old, new):
    edit(config_dir / "hotline.toml", old, new)
    [problem] = problems_of(config_dir)
    assert problem.endswith(f"regions.numbers: {new.strip(chr(34))!r} appears more than once")


def test_the_escalation_call_back_is_promised_within_15_minutes_by_default(config_dir):
    assert load_catalog(SHIPPED).escalation_callback_promise == timedelta(minutes=15)
    edit(config_dir / "hotline.toml", "callback_minutes = 15\n", "")
    catalog = load_catalog(config_dir / "hotline.toml")
    assert catalog.escalation_callback_promise == timedelta(minutes=15)


@pytest.mark.parametrize("minutes", ["0", "-5", "1441", '"soon"'])
def test_a_bad_escalation_call_back_promise_is_named(config_dir, minutes):
    edit(config_dir / "hotline.toml", "callback_minutes = 15", f"callback_minutes = {minutes}")
    [problem] = problems_of(config_dir)
    assert problem.startswith(f"{config_dir / 'hotline.toml'}: escalations.callback_minutes: ")


def test_a_region_may_have_a_conference_dial_in_line(config_dir):
    assert load_catalog(SHIPPED).region("de").conference_number is None
    edit(
        config_dir / "hotline.toml",
        'key = "de"\n',
        'key = "de"\nconference_number = "+496912345670"\n',
    )
    catalog = load_catalog(config_dir / "hotline.toml")
    germany = catalog.region_for_conference_number("+496912345670")
    assert germany is not None
    assert germany.key == "de"
    # The dial-in line is no hotline number (its calls never reach the caller flow), and no
    # participant or callback is ever dialled to it.
    assert catalog.region_for_number("+496912345670") is None
    assert catalog.region_for_conference_number("+498001006711") is None
    assert "+496912345670" in catalog.number_policy(germany).own_numbers


def test_a_conference_number_not_in_e164_is_named(config_dir):
    edit(
        config_dir / "hotline.toml", 'key = "de"\n', 'key = "de"\nconference_number = "069 1234"\n'
    )
    [problem] = problems_of(config_dir)
    assert "hotline.toml: regions[0].conference_number: " in problem
    assert "'069 1234' is not an E.164 number" in problem


def test_a_conference_number_that_is_also_a_hotline_number_is_named(config_dir):
    edit(
        config_dir / "hotline.toml",
        'key = "us"\n',
        'key = "us"\nconference_number = "+498001006711"\n',
    )
    [problem] = problems_of(config_dir)
    assert problem.endswith("regions.numbers: '+498001006711' appears more than once")


def test_an_escalating_caller_holds_two_minutes_by_default_and_zero_turns_the_hold_off(config_dir):
    assert load_catalog(SHIPPED).escalation_hold == timedelta(seconds=120)
    hotline = config_dir / "hotline.toml"
    edit(hotline, "hold_seconds = 120\n", "")
    assert load_catalog(hotline).escalation_hold == timedelta(seconds=120)
    edit(hotline, "callback_minutes = 15\n", "callback_minutes = 15\nhold_seconds = 0\n")
    assert load_catalog(hotline).escalation_hold == timedelta(0)


@pytest.mark.parametrize("seconds", ["-1", "601", "1.5", '"long"'])
def test_a_bad_escalation_hold_is_named(config_dir, seconds):
    edit(config_dir / "hotline.toml", "hold_seconds = 120", f"hold_seconds = {seconds}")
    [problem] = problems_of(config_dir)
    assert problem.startswith(f"{config_dir / 'hotline.toml'}: escalations.hold_seconds: ")


def test_a_hold_as_long_as_the_call_back_promise_is_refused(config_dir):
    hotline = config_dir / "hotline.toml"
    edit(hotline, "callback_minutes = 15", "callback_minutes = 2")
    [problem] = problems_of(config_dir)
    assert problem.startswith(f"{hotline}: escalations: ")
    assert "hold_seconds (120) must be shorter than callback_minutes (2 minutes)" in problem
    edit(hotline, "hold_seconds = 120", "hold_seconds = 119")
    assert load_catalog(hotline).escalation_hold == timedelta(seconds=119)
