"""``hotline user``: add, list tokens, issue, revoke, disable; addresses checked."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from config import cli
from db.transaction import transaction
from intake.staff import Presence, UnknownUser, find_member, user_for_token


@pytest.fixture
def hotline(database_url):
    def run(*args):
        return CliRunner().invoke(cli.main, list(args), env={"HOTLINE_DATABASE_URL": database_url})

    return run


def _token(output):
    return re.search(r"API token \(shown once, keep it safe\): (\S+)", output).group(1)


def test_tokens_are_listed_by_id_and_last_characters_and_revoked_at_once(hotline, deps):
    added = hotline("user", "add", "anna", "--role", "agent")
    assert added.exit_code == 0, added.output
    first = _token(added.output)
    second = _token(hotline("user", "new-token", "anna").output)

    listing = hotline("user", "tokens", "anna")
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert [line.split("\t")[1] for line in lines] == [f"...{first[-4:]}", f"...{second[-4:]}"]
    assert all(line.endswith("valid") for line in lines)
    assert first not in listing.output

    first_id = lines[0].split("\t")[0]
    revoked = hotline("user", "revoke-token", "anna", first_id)
    assert revoked.exit_code == 0
    assert "\trevoked " in hotline("user", "tokens", "anna").output.splitlines()[0]
    with transaction(deps.session_factory) as session:
        assert user_for_token(session, first) is None
        assert user_for_token(session, second) is not None

    assert hotline("user", "revoke-token", "anna", "--all").output == "revoked 1 token(s) of anna\n"
    with transaction(deps.session_factory) as session:
        assert user_for_token(session, second) is None


def test_a_disabled_users_token_is_refused(hotline, deps):
    token = _token(hotline("user", "add", "ben", "--role", "manager").output)

    assert hotline("user", "disable", "ben").output == "ben disabled\n"
    with transaction(deps.session_factory) as session:
        assert user_for_token(session, token) is None
    hotline("user", "enable", "ben")
    with transaction(deps.session_factory) as session:
        assert user_for_token(session, token) is not None


@pytest.mark.parametrize(
    "args",
    [("tokens", "nobody"), ("revoke-token", "nobody", "1"), ("disable", "nobody")],
)
def test_an_unknown_user_is_named(hotline, args):
    result = hotline("user", *args)
    assert result.exit_code == 1
    assert "error: no user named 'nobody'" in result.output


def test_revoking_needs_a_token_id_or_all(hotline):
    hotline("user", "add", "cara", "--role", "agent")
    assert "give a TOKEN_ID or --all" in hotline("user", "revoke-token", "cara").output
    assert "cara has no token 99" in hotline("user", "revoke-token", "cara", "99").output


@pytest.mark.parametrize("email", ["anna@", "anna@localhost", "anna@@example.com", "anna"])
def test_a_staff_address_that_mail_cannot_reach_is_refused(hotline, email):
    result = hotline("user", "add", "anna", "--role", "agent", "--email", email)
    assert result.exit_code == 1
    assert f"error: --email {email!r} is not an e-mail address" in result.output


def test_an_agent_is_added_with_a_phone_and_a_region_of_the_catalog(hotline, deps):
    added = hotline(
        "user", "add", "carla", "--role", "agent", "--phone", "+4969123456", "--region", "de"
    )

    assert added.exit_code == 0, added.output
    assert added.output.startswith("added carla (agent, region de)\n")
    with transaction(deps.session_factory) as session:
        member = find_member(session, "carla")
    assert (member.phone, member.region, member.presence) == ("+4969123456", "de", Presence.AWAY)


def test_a_region_not_in_the_catalog_is_refused_naming_the_option_and_the_regions(hotline, deps):
    refused = hotline("user", "add", "dora", "--role", "agent", "--region", "fr")

    assert refused.exit_code == 1
    assert "error: --region 'fr' is not a region of " in refused.output
    assert "(one of: de, us)" in refused.output
    with transaction(deps.session_factory) as session, pytest.raises(UnknownUser):
        find_member(session, "dora")


def test_an_existing_user_is_given_a_phone_and_a_region(hotline, deps):
    hotline("user", "add", "emil", "--role", "agent")

    assert hotline("user", "update", "emil").exit_code == 1
    assert hotline("user", "update", "emil", "--phone", "069").exit_code == 1
    assert hotline("user", "update", "emil", "--region", "xx").exit_code == 1
    updated = hotline("user", "update", "emil", "--phone", "+4969123456", "--region", "de")

    assert updated.exit_code == 0, updated.output
    assert updated.output == "emil: phone +4969123456, region de\n"
    assert hotline("user", "update", "nobody", "--region", "de").exit_code == 1


def test_presence_is_set_from_the_terminal(hotline, deps):
    hotline("user", "add", "fritz", "--role", "agent")

    assert hotline("user", "presence", "fritz", "available").output == "fritz is available\n"
    with transaction(deps.session_factory) as session:
        assert find_member(session, "fritz").presence is Presence.AVAILABLE
    assert hotline("user", "presence", "fritz", "lunch").exit_code == 2
    unknown = hotline("user", "presence", "nobody", "busy")
    assert unknown.exit_code == 1
    assert "no user named 'nobody'" in unknown.output


def test_a_display_name_is_what_callers_hear_and_the_user_name_stays_the_login(hotline, deps):
    added = hotline(
        "user", "add", "anna.becker", "--role", "manager", "--display-name", " Anna Becker "
    )
    plain = hotline("user", "add", "ben", "--role", "manager")
    too_long = hotline("user", "add", "cara", "--role", "manager", "--display-name", "x" * 201)

    assert added.exit_code == plain.exit_code == 0, added.output
    assert too_long.exit_code == 1
    assert "--display-name is longer than 200 characters" in too_long.output
    with transaction(deps.session_factory) as session:
        anna = user_for_token(session, _token(added.output))
        ben = user_for_token(session, _token(plain.output))
        with pytest.raises(UnknownUser):
            find_member(session, "cara")
    assert anna is not None
    assert ben is not None
    assert (anna.name, anna.display_name, anna.spoken_name) == (
        "anna.becker",
        "Anna Becker",
        "Anna Becker",
    )
    assert (ben.display_name, ben.spoken_name) == (None, "ben")
