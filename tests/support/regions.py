"""Region values for tests of the pure hours and promise rules (no configuration file)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from config.settings import DEFAULT_CONFIG
from intake.catalog import AgentLine, AgentLineKind, Region

# SMS-capable senders for the shipped regions, as a deployment with Twilio must configure them.
SMS_SENDERS = {"de": "+4915112340000", "us": "+12025550100"}


def make_region(
    key: str, timezone: str, country: str, number: str, *, subdivision: str | None = None
) -> Region:
    """A region in ``timezone`` with ``country``'s holidays and one toll-free ``number``."""
    return Region(
        key=key,
        name=key,
        numbers=(number,),
        language="de" if country == "DE" else "en",
        voice="Polly.Vicki" if country == "DE" else "Polly.Joanna",
        timezone=timezone,
        country=country,
        holiday_subdivision=subdivision,
        agent_line=AgentLine(
            kind=AgentLineKind.QUEUE, target=f"support-{key}", max_wait=timedelta(minutes=2)
        ),
        default_product_line="desktop",
    )


def config_with_sms_senders(directory: Path, senders: dict[str, str] = SMS_SENDERS) -> Path:
    """A copy of the shipped configuration with ``sms_from`` set for the regions named."""
    shutil.copytree(DEFAULT_CONFIG.parent / "prompts", directory / "prompts")
    text = DEFAULT_CONFIG.read_text()
    for key, number in senders.items():
        marker = f'key = "{key}"\n'
        text = text.replace(marker, f'{marker}sms_from = "{number}"\n', 1)
    path = directory / "hotline.toml"
    path.write_text(text)
    return path
