"""The shipped configuration as the benchmarks serve it: with an SMS sender for each region.

A process with Twilio credentials refuses to start until every region names ``sms_from``
(README); the benchmarks send no real SMS, so any SMS-capable-looking number will do.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from config.settings import DEFAULT_CONFIG

SMS_SENDERS = {"de": "+4915112340000", "us": "+12025550100"}


def config_with_sms_senders(directory: Path) -> Path:
    """A copy of ``config/hotline.toml`` and its prompts in ``directory``, senders set."""
    prompts = directory / "prompts"
    if not prompts.exists():
        shutil.copytree(DEFAULT_CONFIG.parent / "prompts", prompts)
    text = DEFAULT_CONFIG.read_text()
    for key, number in SMS_SENDERS.items():
        marker = f'key = "{key}"\n'
        text = text.replace(marker, f'{marker}sms_from = "{number}"\n', 1)
    path = directory / "hotline.toml"
    path.write_text(text)
    return path
