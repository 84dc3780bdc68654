"""Rendering steps as TwiML: the turn number and the greeting's time travel in the URLs."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from intake.call_steps import Say, Step, StepKind, StepName
from intake.catalog import Catalog
from ivr import twiml

BASE = "https://hotline.example"


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    twiml._TEMPLATES.clear()


def _render(catalog: Catalog, step: Step, seq: int, started_ms: int | None = None) -> ET.Element:
    region = catalog.region("de")
    prompts = catalog.prompts_for(region.language)
    document = twiml.render_step(
        step, seq=seq, region=region, prompts=prompts, base=BASE, started_ms=started_ms
    )
    return ET.fromstring(document)


def _action(root: ET.Element) -> str:
    gather = root.find("Gather")
    assert gather is not None
    return str(gather.get("action"))


QUESTION = Step(StepName.NAME, StepKind.SPEECH, (Say("ask_name"),))
READ_BACK = Step(
    StepName.READBACK, StepKind.DIGITS, (Say("sr_number", digits={"sr_number": "26000042"}),)
)


def test_a_cached_question_carries_each_calls_turn_number(catalog: Catalog) -> None:
    assert _action(_render(catalog, QUESTION, 4)) == f"{BASE}/ivr/voice?step=name&seq=4"
    assert _action(_render(catalog, QUESTION, 7)) == f"{BASE}/ivr/voice?step=name&seq=7"
    assert len(twiml._TEMPLATES) == 1


def test_the_greetings_time_is_carried_without_a_template_per_call(catalog: Catalog) -> None:
    greeting = Step(StepName.MENU, StepKind.DIGITS, (Say("welcome"), Say("menu")), num_digits=1)
    first = _render(catalog, greeting, 1, started_ms=1_795_000_000_000)
    second = _render(catalog, greeting, 1, started_ms=1_795_000_000_999)
    assert _action(first) == f"{BASE}/ivr/voice?step=menu&seq=1&t=1795000000000"
    assert _action(second) == f"{BASE}/ivr/voice?step=menu&seq=1&t=1795000000999"
    assert len(twiml._TEMPLATES) == 1


def test_a_number_read_to_one_caller_is_not_cached(catalog: Catalog) -> None:
    root = _render(catalog, READ_BACK, 12)
    gather = root.find("Gather")
    assert gather is not None
    [say] = gather.findall("Say")
    assert "2, 6, 0, 0, 0, 0, 4, 2" in str(say.text)
    assert _action(root) == f"{BASE}/ivr/voice?step=readback&seq=12"
    assert twiml._TEMPLATES == {}
