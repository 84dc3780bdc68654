"""The walker answers calls the hotline places and bridges a <Dial><Queue> to a waiting caller."""

from __future__ import annotations

from urllib.parse import urlsplit

from ivr.call_walker import CallWalker

BASE = "http://scripted.test"
TOKEN = "scripted-token"

DOCUMENTS = {
    "/ivr/voice": '<Response><Enqueue action="/queue/done" waitUrl="/queue/wait">q</Enqueue>'
    "</Response>",
    "/queue/wait": '<Response><Gather numDigits="1" action="/queue/key" timeout="1">'
    "<Say>hold</Say></Gather></Response>",
    "/queue/bridged": "<Response/>",
    "/agent": '<Response><Say>press 1</Say><Dial action="/agent/done" timeout="10">'
    '<Queue url="/queue/bridged">q</Queue></Dial></Response>',
    "/agent/no-action": '<Response><Dial timeout="10"><Queue>q</Queue></Dial>'
    "<Say>after the dial</Say></Response>",
}


def scripted(url: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
    path = urlsplit(url).path
    if path == "/queue/done":
        return 200, f"<Response><Say>queue {form['QueueResult']}</Say><Hangup/></Response>"
    if path == "/agent/done":
        return 200, f"<Response><Say>dial {form['DialCallStatus']}</Say><Hangup/></Response>"
    if path.startswith("/ivr/status"):
        return 204, ""
    return 200, DOCUMENTS[path]


def caller() -> CallWalker:
    walker = CallWalker(
        transport=scripted, base_url=BASE, auth_token=TOKEN, to="+498001006711", from_="+4915"
    )
    walker.dial()
    return walker


def agent(waiting: CallWalker | None) -> CallWalker:
    return CallWalker(
        transport=scripted,
        base_url=BASE,
        auth_token=TOKEN,
        to="+4969123456",
        from_="+498001006711",
        queue_callers=lambda name: waiting if name == "q" else None,
    )


def paths(walker: CallWalker) -> list[str]:
    return [urlsplit(url).path for url, _ in walker.requests]


def test_an_agent_answering_a_placed_call_is_bridged_to_the_caller_in_the_queue() -> None:
    waiting = caller()
    phone = agent(waiting)

    heard = phone.answer("/agent")

    assert heard == ["press 1", "[connected to the caller waiting in queue q]", "dial completed"]
    assert waiting.heard[-2:] == ["[connected to an agent]", "queue bridged"]
    assert waiting.ended
    assert phone.ended
    bridged = next(form for url, form in waiting.requests if url.endswith("/queue/bridged"))
    assert bridged["DequeingCallSid"] == phone.call_sid
    assert bridged["CallSid"] == waiting.call_sid
    [(_, answered)] = phone.requests[:1]
    assert (answered["Direction"], answered["CallStatus"]) == ("outbound-api", "in-progress")
    # A placed call posts its status only where the create asked (here: nowhere).
    assert paths(phone) == ["/agent", "/agent/done"]
    assert paths(waiting)[-2:] == ["/queue/done", "/ivr/status"]


def test_a_queue_with_nobody_in_it_ends_the_dial_unanswered() -> None:
    phone = agent(None)

    assert phone.answer("/agent") == ["press 1", "[nobody joined queue q]", "dial no-answer"]


def test_a_dial_without_action_goes_on_with_the_next_verb() -> None:
    phone = agent(None)
    phone.status_callback = f"{BASE}/ivr/status/agent"

    assert phone.answer("/agent/no-action") == ["[nobody joined queue q]", "after the dial"]
    assert paths(phone)[-1] == "/ivr/status/agent"


def test_a_caller_who_left_the_queue_is_not_bridged() -> None:
    waiting = caller()
    waiting.hang_up()

    assert agent(waiting).answer("/agent")[1] == "[nobody joined queue q]"
