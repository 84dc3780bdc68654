"""A caller on hold hears their place in the queue when they join, then about once a minute,
and keeps the callback key."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import pairwise
from urllib.parse import parse_qs, urlsplit

from intake.hold import POSITION_EVERY_SECONDS, position_to_announce, time_in_queue
from tests.conftest import BASE_URL
from tests.support.calls import US_LINE


def on_hold(phone, *, to=None, position=1):
    """A caller identified (4711002: a 24x7 product, so the line is open) and now on hold."""
    walker = phone(to) if to else phone()
    walker.queue_position = position
    walker.dial()
    walker.press("1")
    walker.press("4711002#")
    assert walker.listening is not None
    assert walker.listening.in_queue
    return walker


def says(body: str) -> list[str]:
    return [(node.text or "") for node in ET.fromstring(body).iter("Say")]


def redirect_query(body: str) -> dict[str, list[str]]:
    [redirect] = ET.fromstring(body).iter("Redirect")
    url = urlsplit(redirect.text or "")
    assert url.path == "/ivr/queue/wait"
    return parse_qs(url.query)


# -- the rule ---------------------------------------------------------------------------------


def test_the_place_is_told_when_the_caller_joins_then_after_a_minute_at_the_earliest():
    assert position_to_announce(3, queue_seconds=0, announced_at=None) == 3
    assert position_to_announce(3, queue_seconds=31, announced_at=0) is None
    assert position_to_announce(2, queue_seconds=POSITION_EVERY_SECONDS, announced_at=0) == 2
    assert position_to_announce(2, queue_seconds=150, announced_at=95) is None


def test_no_place_is_told_without_a_usable_queue_position():
    assert position_to_announce(None, queue_seconds=0, announced_at=None) is None
    assert position_to_announce(0, queue_seconds=0, announced_at=None) is None


def test_the_time_in_queue_is_twilios_or_else_grows_by_at_least_the_shortest_round():
    assert time_in_queue(42, round_began_at=10) == 42
    assert time_in_queue(None, round_began_at=110) == 130
    assert time_in_queue(None, round_began_at=None) == 0


# -- the hold loop ----------------------------------------------------------------------------


def test_a_german_caller_hears_they_are_next_then_the_hold_announcement(phone, demo_customers, de):
    walker = on_hold(phone)

    assert walker.heard[-3:] == [
        "[waiting in queue support-de]",
        de.text("queue_position_next"),
        de.text("hold"),
    ]


def test_an_english_caller_hears_their_number_in_the_queue(phone, demo_customers, en):
    walker = on_hold(phone, to=US_LINE, position=3)

    assert en.text("queue_position", position="3") in walker.heard
    assert "You are number 3 in the queue." in walker.heard


def test_the_place_is_told_again_about_every_minute_until_the_wait_ends(phone, demo_customers, de):
    walker = on_hold(phone, position=2)
    while walker.listening is not None and walker.listening.in_queue:
        walker.silence()

    position = de.text("queue_position", position="2")
    rounds = [form for url, form in walker.requests if urlsplit(url).path == "/ivr/queue/wait"]
    told_at = [
        int(form["QueueTime"])
        for form, body in zip(rounds, _bodies(walker, "/ivr/queue/wait"), strict=True)
        if position in says(body)
    ]
    assert told_at[0] == 0
    assert len(told_at) >= 2
    assert all(later - earlier >= 60 for earlier, later in pairwise(told_at))
    assert all(later - earlier < 120 for earlier, later in pairwise(told_at))
    assert walker.heard.count(de.text("hold")) == len(rounds) - 1  # the last round left


def _bodies(walker, path):
    return [
        body
        for (url, _), body in zip(walker.requests, walker.responses, strict=True)
        if urlsplit(url).path == path
    ]


def test_each_round_asks_again_with_when_the_place_was_told_and_the_time_in_queue(
    phone, demo_customers, de
):
    walker = on_hold(phone, position=2)

    first = walker.post(f"{BASE_URL}/ivr/queue/wait", {"QueueTime": "0", "QueuePosition": "2"})
    assert says(first)[0] == de.text("queue_position", position="2")
    assert redirect_query(first) == {"said": ["0"], "at": ["0"]}

    later = walker.post(
        f"{BASE_URL}/ivr/queue/wait?said=0&at=30", {"QueueTime": "31", "QueuePosition": "1"}
    )
    assert says(later) == [de.text("hold")]
    assert redirect_query(later) == {"said": ["0"], "at": ["31"]}

    again = walker.post(
        f"{BASE_URL}/ivr/queue/wait?said=0&at=31", {"QueueTime": "62", "QueuePosition": "1"}
    )
    assert says(again) == [de.text("queue_position_next"), de.text("hold")]
    assert redirect_query(again) == {"said": ["62"], "at": ["62"]}


def test_a_round_without_queue_time_still_ends_at_the_maximum_wait(phone, demo_customers):
    walker = on_hold(phone)

    body = walker.post(f"{BASE_URL}/ivr/queue/wait?said=0&at=110", {})

    assert [node.tag for node in ET.fromstring(body)] == ["Leave"]


def test_the_callback_key_works_in_a_round_that_tells_the_place(phone, demo_customers, de):
    walker = on_hold(phone, position=4)
    assert walker.heard[-2] == de.text("queue_position", position="4")

    heard = walker.press("1")

    assert heard == [de.text("callback_keeps_place"), de.text("ask_name")]


def test_another_key_on_hold_goes_back_to_the_hold_loop(phone, demo_customers, de):
    walker = on_hold(phone)

    heard = walker.press("5")

    assert de.text("hold") in heard
    assert walker.listening is not None
    assert walker.listening.in_queue
