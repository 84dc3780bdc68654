"""Region values for tests of the pure hours and promise rules (no configuration file)."""

from __future__ import annotations

from datetime import timedelta

from intake.catalog import AgentLine, AgentLineKind, Region


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
