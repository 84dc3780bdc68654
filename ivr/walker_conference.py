"""The call walker in a ``<Dial><Conference>``: the events Twilio posts about it.

A walker stays in the conference until it hangs up. The first one in starts the conference, the
last one out ends it; each join and leave is posted to the noun's ``statusCallback`` if its
``statusCallbackEvent`` asks for it, with a SequenceNumber and (given a clock) a Timestamp.
Walkers sharing one dict of rooms are in the same conferences.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime

# (url, params) -> the answer's body: the walker's signed POST.
Post = Callable[[str, dict[str, str]], str]


@dataclass
class ConferenceRoom:
    """A conference as the walkers in it share it: its SID, who is in, the events' order."""

    sid: str = field(default_factory=lambda: "CF" + secrets.token_hex(16))
    members: set[str] = field(default_factory=set)
    sequence: int = 0


@dataclass(frozen=True)
class InConference:
    """One call's place in a conference, and where its events go."""

    name: str
    room: ConferenceRoom
    status_callback: str
    events: frozenset[str]
    call_sid: str
    clock: Callable[[], datetime] | None

    def post_event(self, post: Post, short: str) -> None:
        """Post ``short`` (start, end, join, leave) if the noun asked for it."""
        if short not in self.events or not self.status_callback:
            return
        self.room.sequence += 1
        kind = "conference" if short in ("start", "end") else "participant"
        params = {
            "ConferenceSid": self.room.sid,
            "FriendlyName": self.name,
            "StatusCallbackEvent": f"{kind}-{short}",
            "SequenceNumber": str(self.room.sequence),
            "Muted": "false",
            "Hold": "false",
        }
        if self.clock is not None:
            params["Timestamp"] = format_datetime(self.clock())
        post(self.status_callback, params)


def join_conference(
    noun: ET.Element,
    *,
    call_sid: str,
    rooms: dict[str, ConferenceRoom],
    post: Post,
    clock: Callable[[], datetime] | None,
) -> InConference:
    """Enter the ``<Conference>`` noun's room: starts it when empty, then the join."""
    name = (noun.text or "").strip()
    room = rooms.setdefault(name, ConferenceRoom())
    place = InConference(
        name=name,
        room=room,
        status_callback=noun.get("statusCallback") or "",
        events=frozenset((noun.get("statusCallbackEvent") or "").split()),
        call_sid=call_sid,
        clock=clock,
    )
    starts = not room.members
    room.members.add(call_sid)
    if starts:
        place.post_event(post, "start")
    place.post_event(post, "join")
    return place


def leave_conference(place: InConference, *, post: Post) -> None:
    """Hung up: the leave, and the end when nobody is left."""
    place.room.members.discard(place.call_sid)
    place.post_event(post, "leave")
    if not place.room.members:
        place.post_event(post, "end")
