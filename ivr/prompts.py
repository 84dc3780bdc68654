"""Wording per language: prompt keys to text, numbers spoken digit by digit."""

from __future__ import annotations

from intake.call_steps import Say
from intake.catalog import PromptSet


def spoken_digits(digits: str) -> str:
    """Digits separated so text-to-speech reads each one with a short pause ("4, 7, 1, 1")."""
    return ", ".join(c for c in digits if c.isdigit() or c == "+").replace("+", "plus")


def text_of(prompts: PromptSet, say: Say) -> str:
    """The sentence ``say`` stands for in ``prompts``' language."""
    values = dict(say.values)
    values.update({name: spoken_digits(digits) for name, digits in say.digits.items()})
    return prompts.text(say.key, **values)
