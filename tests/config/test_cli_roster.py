"""``hotline roster import`` and ``show``, ``hotline user import``: the demo files load twice,
errors name the file, the field and the value, and a refused file changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from config import cli
from config.settings import DEFAULT_CONFIG
from db.transaction import transaction
from escalations.rosters import all_rosters, roster_of
from escalations.routing import RosterKind
from intake.staff import find_member

DEMO = Path(DEFAULT_CONFIG).parent / "demo"


@pytest.fixture
def hotline(database_url):
    def run(*args):
        return CliRunner().invoke(cli.main, list(args), env={"HOTLINE_DATABASE_URL": database_url})

    return run


@pytest.fixture
def demo_staff(hotline):
    result = hotline("user", "import", str(DEMO / "staff.csv"))
    assert result.exit_code == 0, result.output


def write(tmp_path: Path, text: str, name: str = "roster.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_demo_staff_and_rosters_load_and_load_again(hotline, deps):
    first = hotline("user", "import", str(DEMO / "staff.csv"))
    again = hotline("user", "import", str(DEMO / "staff.csv"))
    rosters = hotline("roster", "import", str(DEMO / "roster.toml"))
    rosters_again = hotline("roster", "import", str(DEMO / "roster.toml"))

    assert first.output == "added 10 staff member(s), 0 already there\n"
    assert again.output == "added 0 staff member(s), 10 already there\n"
    assert rosters.exit_code == rosters_again.exit_code == 0, rosters.output
    assert rosters_again.output.splitlines() == [
        "imported de duty roster: 3 member(s), 14 weekly shift(s), 1 override(s),"
        " fallback dieter.koch",
        "imported us duty roster: 2 member(s), 13 weekly shift(s), 0 override(s),"
        " fallback lisa.brown",
        "imported us us_government roster: 2 member(s), 7 weekly shift(s), 0 override(s),"
        " fallback frank.reed",
    ]  # and no gap warned of: the demo rosters cover every week
    with transaction(deps.session_factory) as session:
        assert [(r.spec.region, r.spec.kind) for r in all_rosters(session)] == [
            ("de", RosterKind.DUTY),
            ("us", RosterKind.DUTY),
            ("us", RosterKind.US_GOVERNMENT),
        ]


@pytest.mark.usefixtures("demo_staff")
def test_show_prints_who_is_on_duty_now_the_weekly_shifts_and_the_gaps(hotline):
    hotline("roster", "import", str(DEMO / "roster.toml"), "--region", "de")

    shown = hotline("roster", "show")
    only_us = hotline("roster", "show", "--region", "us")

    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "us duty: no roster: an escalation would ring nobody"
    assert lines[1].startswith("de duty (Europe/Berlin), updated ")
    # The clock is the real one: who is on duty depends on the hour.
    assert lines[2].startswith("  on duty now (")
    assert lines[2].endswith("; then fallback dieter.koch")
    assert "    Mon 07:00-19:00  anna.becker, bernd.vogel" in lines
    assert "    Sun 19:00-07:00  carla.wagner" in lines
    assert "  gaps in the next 7 days: none" in lines
    assert only_us.output == "us duty: no roster: an escalation would ring nobody\n"


@pytest.mark.usefixtures("demo_staff")
def test_an_import_warns_of_the_coming_weeks_gaps(hotline, tmp_path):
    file = write(
        tmp_path,
        """
[[rosters]]
region = "de"
members = ["anna.becker"]
fallback = "dieter.koch"

[[rosters.shifts]]
days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
hours = "08:00-20:00"
""",
    )

    result = hotline("roster", "import", str(file))

    assert result.exit_code == 0
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) in (7, 8)  # every night of the coming week
    assert all(
        line.startswith(f"warning: {file}: de duty: nobody on duty ")
        and line.endswith("(Europe/Berlin): only dieter.koch (fallback) would be rung")
        for line in warnings
    )


@pytest.mark.usefixtures("demo_staff")
def test_a_refused_file_names_the_file_field_and_value_and_imports_nothing(hotline, tmp_path, deps):
    hotline("roster", "import", str(DEMO / "roster.toml"))
    file = write(
        tmp_path,
        """
[[rosters]]
region = "de"
members = ["anna.becker", "nobody"]
fallback = "dieter.koch"

[[rosters]]
region = "us"
members = ["john.miller"]
fallback = "lisa.brown"

[[rosters.shifts]]
days = ["monday"]
hours = "09:00-17:00"
members = ["mary.jones"]
""",
    )

    result = hotline("roster", "import", str(file))

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{file}: nothing imported:",
        f"  {file}: rosters[0].members[1] = 'nobody': no staff member has that name",
        f"  {file}: rosters[1].shifts[0].members[0] = 'mary.jones': is not a member",
    ]
    with transaction(deps.session_factory) as session:
        # The first roster was fine, yet the import is one transaction: nothing changed.
        assert roster_of(session, "de", RosterKind.DUTY).spec.members == (
            "anna.becker",
            "bernd.vogel",
            "carla.wagner",
        )


HEAD = '[[rosters]]\nregion = "de"\nmembers = ["a"]\nfallback = "a"\n'
SHIFT = '[[rosters.shifts]]\ndays = ["monday"]\n'
OVERRIDE = '[[rosters.overrides]]\nmember = "a"\nfirst_day = 2026-12-24\nlast_day = 2026-12-26\n'


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            HEAD.replace('"de"', '"fr"'),
            "rosters[0].region = 'fr': not a configured region (de, us)",
        ),
        (
            HEAD.replace('["a"]', "[]"),
            "rosters[0].members: List should have at least 1 item",
        ),
        (
            HEAD + 'kind = "vip"\n',
            "rosters[0].kind = 'vip': Input should be 'duty' or 'us_government'",
        ),
        (
            HEAD + SHIFT + 'hours = "24:00-06:00"\n',
            "rosters[0].shifts[0].hours = '24:00-06:00': not a time of day (00:00 to 23:59;"
            " an end may be 24:00)",
        ),
        (
            HEAD + OVERRIDE + 'action = "holiday"\n',
            "rosters[0].overrides[0].action = 'holiday': Input should be 'replace', 'add' or"
            " 'remove'",
        ),
        (HEAD + HEAD, "rosters[1].kind = 'duty': region 'de' has a duty roster already"),
        ("rosters = 1\n", "rosters = '1': Input should be a valid list"),
        ("[[rosters]\n", "not valid TOML"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_field(hotline, tmp_path, text, problem):
    file = write(tmp_path, text)

    result = hotline("roster", "import", str(file))

    assert result.exit_code == 1
    assert f"  {file}: {problem}" in result.output.splitlines()[1:2][0]


def test_a_file_without_the_asked_region_is_refused(hotline, tmp_path):
    result = hotline("roster", "import", str(DEMO / "roster.toml"), "--region", "xx")

    assert result.exit_code == 1
    assert f"{DEMO / 'roster.toml'}: rosters: no roster of region 'xx'" in result.output


def test_a_staff_file_may_give_display_names_and_they_are_checked(hotline, tmp_path, deps):
    good = write(
        tmp_path,
        "name,role,phone,email,region,display_name\n"
        "anna.becker,manager,,,de,Anna Becker\nben,agent,,,de,\n",
        "staff.csv",
    )
    bad = write(
        tmp_path,
        f"name,role,phone,email,region,display_name\ncara,agent,,,de,{'x' * 201}\n",
        "bad.csv",
    )
    wrong = write(tmp_path, "name,role,phone,email,region,nickname\n", "wrong.csv")

    imported = hotline("user", "import", str(good))
    refused = hotline("user", "import", str(bad))
    misnamed = hotline("user", "import", str(wrong))

    assert imported.output == "added 2 staff member(s), 0 already there\n"
    with transaction(deps.session_factory) as session:
        assert find_member(session, "anna.becker").spoken_name == "Anna Becker"
        assert find_member(session, "ben").spoken_name == "ben"
    assert refused.exit_code == 1
    assert f"{bad}:2: display_name = '{'x' * 201}': longer than 200 characters" in refused.output
    assert misnamed.exit_code == 1
    assert "the header must be name,role,phone,email,region (and, optionally," in misnamed.output


def test_a_staff_file_with_bad_rows_names_line_field_and_value(hotline, tmp_path):
    file = write(
        tmp_path,
        "name,role,phone,email,region\nanna,boss,+4915110000001,,de\n,agent,0151,a@,de\n",
        "staff.csv",
    )

    result = hotline("user", "import", str(file))

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"{file}: nothing imported:"
    assert lines[1] == f"  {file}:2: role = 'boss': one of agent, engineer, manager, admin"
    assert lines[2] == f"  {file}:3: name = '': give a name"
    assert lines[3] == f"  {file}:3: phone = '0151': not a valid E.164 number"
    assert lines[4].startswith(f"  {file}:3: email = 'a@': ")
