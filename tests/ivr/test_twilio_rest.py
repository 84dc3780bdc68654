"""Twilio senders against the local Twilio REST mock, through the real twilio SDK."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.client import RemoteDisconnected

import pytest
import requests
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
)

from intake.ports import SendError, SendRejected, SendUncertain
from ivr.twilio_rest import (
    BaseUrlHttpClient,
    LogOnlySenders,
    TwilioSenders,
    may_have_reached_twilio,
)
from tests.support.mock_twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, Endpoint, MockTwilio
from tests.support.smtp import free_port

CALLER = "+4917012345678"
HOTLINE = "+498001234567"
AGENT_TWIML = "https://hotline.example/ivr/agent"
MESSAGES_PATH = f"/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Messages.json"


@pytest.fixture
def mock_twilio() -> Iterator[MockTwilio]:
    with MockTwilio() as mock:
        yield mock


@pytest.fixture
def senders(mock_twilio: MockTwilio) -> Iterator[TwilioSenders]:
    with TwilioSenders(
        TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, api_base_url=mock_twilio.base_url
    ) as senders:
        yield senders


def ring(dialer: TwilioSenders | LogOnlySenders, to: str = CALLER) -> str:
    return dialer.place_call(
        to=to, from_=HOTLINE, url=AGENT_TWIML, status_callback=None, timeout_seconds=30
    )


def send_confirmation(senders: TwilioSenders, body: str = "Ihre Meldung: SR-1001") -> None:
    senders.send_sms(to=CALLER, from_=HOTLINE, body=body, status_callback=None)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.instant = now

    def now(self) -> datetime:
        return self.instant


# -- base URL ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "twilio_url", "expected"),
    [
        (
            "http://127.0.0.1:8765",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?To=%2B49&PageSize=50",
            "http://127.0.0.1:8765/2010-04-01/Accounts/AC1/Messages.json?To=%2B49&PageSize=50",
        ),
        (
            "http://127.0.0.1:8765/",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json",
            "http://127.0.0.1:8765/2010-04-01/Accounts/AC1/Calls.json",
        ),
        (
            "https://twilio-mock.internal/prefix",
            "https://messaging.twilio.com/v1/Services",
            "https://twilio-mock.internal/prefix/v1/Services",
        ),
        (
            "http://127.0.0.1:8765",
            "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/AC1/Calls.json",
            "http://127.0.0.1:8765/2010-04-01/Accounts/AC1/Calls.json",
        ),
    ],
)
def test_base_url_replaces_only_scheme_and_host_of_twilio_urls(
    base_url: str, twilio_url: str, expected: str
) -> None:
    assert BaseUrlHttpClient(base_url).map_url(twilio_url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/2010-04-01/Accounts/AC1/Messages.json",
        "https://api.twilio.com.evil.example/2010-04-01/Accounts/AC1/Messages.json",
        "http://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
    ],
)
def test_base_url_leaves_other_hosts_alone(url: str) -> None:
    assert BaseUrlHttpClient("http://127.0.0.1:8765").map_url(url) == url


def test_without_base_url_twilio_urls_stay_and_a_timeout_still_applies() -> None:
    client = BaseUrlHttpClient(None)
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"

    assert client.map_url(url) == url
    assert client.timeout == 10.0
    client.close()


def test_base_url_without_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="base URL"):
        BaseUrlHttpClient("127.0.0.1:8765")


# -- happy paths -------------------------------------------------------------------------------


def test_sms_goes_through_the_twilio_sdk_to_the_mock(
    senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    sent = senders.send_sms(
        to=CALLER,
        from_=HOTLINE,
        body="Ihre Meldung: SR-1001. Grüße",
        status_callback="https://hotline.example/ivr/sms-status?attempt=7",
    )

    [recorded] = mock_twilio.messages
    assert sent.sid == recorded.sid
    assert sent.sid.startswith("SM")
    assert (sent.to, sent.body, sent.status) == (CALLER, "Ihre Meldung: SR-1001. Grüße", "queued")
    assert sent.created_at is not None
    assert sent.created_at.tzinfo is not None
    assert (recorded.to, recorded.from_, recorded.body) == (CALLER, HOTLINE, sent.body)
    assert recorded.status_callback == "https://hotline.example/ivr/sms-status?attempt=7"
    [request] = mock_twilio.requests
    assert (request.method, request.path, request.username) == (
        "POST",
        MESSAGES_PATH,
        TEST_ACCOUNT_SID,
    )


def test_call_asks_for_every_status_event_and_the_ring_timeout(
    senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    sid = senders.place_call(
        to=CALLER,
        from_=HOTLINE,
        url="https://hotline.example/ivr/agent?callback=3",
        status_callback="https://hotline.example/ivr/call-status?attempt=9",
        timeout_seconds=45,
    )

    [call] = mock_twilio.calls
    assert sid == call.sid
    assert sid.startswith("CA")
    assert (call.to, call.from_, call.url) == (
        CALLER,
        HOTLINE,
        "https://hotline.example/ivr/agent?callback=3",
    )
    assert call.status_callback == "https://hotline.example/ivr/call-status?attempt=9"
    assert call.status_callback_event == ["initiated", "ringing", "answered", "completed"]
    assert call.timeout == 45


def test_messages_sent_to_lists_only_that_number_since_the_attempt() -> None:
    clock = FixedClock(datetime(2025, 3, 30, 8, 0, tzinfo=UTC))
    mock = MockTwilio(clock=clock.now)
    with mock, TwilioSenders(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, api_base_url=mock.base_url) as s:
        send_confirmation(s, "SR-0999 from yesterday's attempt")
        clock.instant += timedelta(hours=1)
        send_confirmation(s, "SR-1001")
        s.send_sms(to="+4915199999999", from_=HOTLINE, body="SR-1002", status_callback=None)

        found = s.messages_sent_to(to=CALLER, since=clock.instant)

    assert [m.body for m in found] == ["SR-1001"]
    assert found[0].created_at == clock.instant


def test_messages_sent_to_finds_a_message_still_in_twilios_queue(
    senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    # A queued message has no date_sent yet, so Twilio's DateSent filter would miss it.
    mock_twilio.keep_queued = True
    send_confirmation(senders)

    [found] = senders.messages_sent_to(to=CALLER, since=datetime.now(UTC))

    assert (found.body, found.status) == ("Ihre Meldung: SR-1001", "queued")


# -- refusals ----------------------------------------------------------------------------------


def test_a_rate_limited_create_is_a_plain_send_error(
    senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    mock_twilio.fail_next("messages", status=429, code=20429)

    with pytest.raises(SendError, match="20429") as raised:
        send_confirmation(senders)

    assert type(raised.value) is SendError
    assert mock_twilio.messages == []


@pytest.mark.parametrize("endpoint", ["messages", "calls"])
@pytest.mark.parametrize(("status", "code"), [(500, 20500), (503, 20503)])
def test_a_server_error_on_a_create_is_uncertain(
    senders: TwilioSenders, mock_twilio: MockTwilio, endpoint: Endpoint, status: int, code: int
) -> None:
    mock_twilio.fail_next(endpoint, status=status, code=code)
    create = send_confirmation if endpoint == "messages" else ring

    with pytest.raises(SendUncertain, match=f"HTTP {status}, error {code}"):
        create(senders)


@pytest.mark.parametrize("endpoint", ["messages", "calls"])
@pytest.mark.parametrize("status", [502, 504])
def test_a_gateway_giving_up_on_a_create_is_uncertain(
    senders: TwilioSenders, mock_twilio: MockTwilio, endpoint: Endpoint, status: int
) -> None:
    mock_twilio.fail_next(endpoint, status=status, code=status)
    create = send_confirmation if endpoint == "messages" else ring

    with pytest.raises(SendUncertain, match=f"HTTP {status}"):
        create(senders)


def test_a_gateway_giving_up_on_a_listing_is_a_plain_send_error(
    senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    mock_twilio.fail_next("message_list", status=504, code=504)

    with pytest.raises(SendError) as raised:
        senders.messages_sent_to(to=CALLER, since=datetime.now(UTC))

    assert type(raised.value) is SendError


# 21606 our From cannot send SMS, 21211 invalid To, 21610 the recipient said STOP, 21612 To
# not reachable by SMS, 21408 the To's region is not enabled, 21614 To is not a mobile.
@pytest.mark.parametrize("code", [21606, 21211, 21610, 21612, 21408, 21614])
def test_a_number_twilio_can_never_reach_is_rejected_for_good(
    senders: TwilioSenders, mock_twilio: MockTwilio, code: int
) -> None:
    mock_twilio.fail_next("messages", status=400, code=code, message="The 'To' number is invalid")

    with pytest.raises(SendRejected, match=rf"{code}.*The 'To' number is invalid"):
        send_confirmation(senders)


def test_an_unlisted_client_error_stays_retryable(
    senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    # 20001: a parameter Twilio did not accept; nothing says a later try must fail too.
    mock_twilio.fail_next("messages", status=400, code=20001)

    with pytest.raises(SendError) as raised:
        send_confirmation(senders)

    assert type(raised.value) is SendError


def test_a_call_to_an_invalid_number_is_rejected_for_good(
    senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    mock_twilio.fail_next("calls", status=400, code=21217)

    with pytest.raises(SendRejected, match="21217"):
        ring(senders, to="+49")


def test_wrong_auth_token_names_the_credentials_to_check(mock_twilio: MockTwilio) -> None:
    with TwilioSenders(TEST_ACCOUNT_SID, "wrong", api_base_url=mock_twilio.base_url) as senders:
        with pytest.raises(SendError, match=r"HTTP 401.*20003.*TWILIO_AUTH_TOKEN") as raised:
            send_confirmation(senders)
        with pytest.raises(SendError, match=r"HTTP 401.*TWILIO_AUTH_TOKEN"):
            senders.messages_sent_to(to=CALLER, since=datetime.now(UTC))

    assert type(raised.value) is SendError
    assert mock_twilio.messages == []


def test_a_failed_listing_is_a_plain_send_error(
    senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    mock_twilio.fail_next("message_list", status=500, code=20500)

    with pytest.raises(SendError, match="HTTP 500") as raised:
        senders.messages_sent_to(to=CALLER, since=datetime.now(UTC))

    assert type(raised.value) is SendError


# -- transport failures ------------------------------------------------------------------------


def test_sms_dropped_after_twilio_recorded_it_is_uncertain_and_listed(
    senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    mock_twilio.drop_next("messages")
    attempt_started = datetime.now(UTC)

    with pytest.raises(SendUncertain, match="may have been accepted"):
        send_confirmation(senders)

    [found] = senders.messages_sent_to(to=CALLER, since=attempt_started)
    assert found.body == "Ihre Meldung: SR-1001"


def test_sms_dropped_before_twilio_recorded_it_is_uncertain_and_not_listed(
    senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    mock_twilio.drop_next_before_recording("messages")
    attempt_started = datetime.now(UTC)

    with pytest.raises(SendUncertain):
        send_confirmation(senders)

    assert senders.messages_sent_to(to=CALLER, since=attempt_started) == []


def test_call_dropped_after_twilio_recorded_it_is_uncertain(
    senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    mock_twilio.drop_next("calls")

    with pytest.raises(SendUncertain):
        ring(senders)

    assert len(mock_twilio.calls) == 1


def test_no_answer_within_the_timeout_is_uncertain(mock_twilio: MockTwilio) -> None:
    mock_twilio.hold_next("messages")
    with (
        TwilioSenders(
            TEST_ACCOUNT_SID,
            TEST_AUTH_TOKEN,
            api_base_url=mock_twilio.base_url,
            timeout_seconds=0.2,
        ) as senders,
        pytest.raises(SendUncertain, match="ReadTimeout"),
    ):
        send_confirmation(senders)
    mock_twilio.release_held()

    assert len(mock_twilio.messages) == 1


def test_a_closed_port_is_a_plain_send_error_not_uncertain() -> None:
    with TwilioSenders(
        TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, api_base_url=f"http://127.0.0.1:{free_port()}"
    ) as senders:
        with pytest.raises(SendError, match="could not be reached") as raised:
            send_confirmation(senders)
        with pytest.raises(SendError) as raised_call:
            ring(senders)

    assert type(raised.value) is SendError
    assert type(raised_call.value) is SendError


def test_senders_keep_working_after_a_dropped_connection(
    senders: TwilioSenders, mock_twilio: MockTwilio
) -> None:
    mock_twilio.drop_next("messages")
    with pytest.raises(SendUncertain):
        send_confirmation(senders)

    send_confirmation(senders, "SR-1002")

    assert [m.body for m in mock_twilio.messages] == ["Ihre Meldung: SR-1001", "SR-1002"]


# -- log-only ----------------------------------------------------------------------------------


def test_log_only_sms_is_logged_masked_as_not_sent_and_listed_for_reconciliation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FixedClock(datetime(2025, 3, 30, 8, 0, tzinfo=UTC))
    senders = LogOnlySenders(clock=clock)

    with caplog.at_level(logging.WARNING, logger="ivr.twilio_rest"):
        sent = senders.send_sms(to=CALLER, from_=HOTLINE, body="SR-1001", status_callback=None)

    assert sent.sid.startswith("SMlog")
    assert len(sent.sid) == 34
    assert sent.created_at == clock.instant
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "NOT sent" in record.getMessage()
    assert "TWILIO_ACCOUNT_SID" in record.getMessage()
    assert CALLER not in record.getMessage()
    assert "***" + CALLER[-3:] in record.getMessage()
    assert "SR-1001" not in record.getMessage()
    assert senders.messages_sent_to(to=CALLER, since=clock.instant) == [sent]
    assert senders.messages_sent_to(to="+4915199999999", since=clock.instant) == []
    assert senders.messages_sent_to(to=CALLER, since=clock.instant + timedelta(hours=1)) == []


def test_log_only_call_is_logged_as_not_placed(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ivr.twilio_rest"):
        sid = ring(LogOnlySenders())

    assert sid.startswith("CAlog")
    assert len(sid) == 34
    assert "NOT placed" in caplog.records[0].getMessage()


# -- what counts as "the request may have arrived" ---------------------------------------------


def _gave_up(reason: Exception) -> MaxRetryError:
    # How urllib3 reports a failed connect: requests lets it retry nothing, so it gives up at once.
    return MaxRetryError(HTTPConnectionPool("api.twilio.com"), "/2010-04-01", reason)


def _connect_failure(reason: Exception) -> requests.ConnectionError:
    return requests.ConnectionError(_gave_up(reason))


_CONN = HTTPConnection("api.twilio.com")
_ABORTED = "Connection aborted."
_NXDOMAIN = socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.mark.parametrize(
    ("failure", "may_have_arrived"),
    [
        (_connect_failure(NewConnectionError(_CONN, "refused")), False),
        (_connect_failure(NameResolutionError("api.twilio.com", _CONN, _NXDOMAIN)), False),
        (requests.ConnectTimeout(_gave_up(ConnectTimeoutError("timed out"))), False),
        (requests.exceptions.InvalidURL("bad URL"), False),
        (requests.ReadTimeout("read timed out"), True),
        (requests.exceptions.ChunkedEncodingError("body cut short"), True),
        (requests.ConnectionError(ProtocolError(_ABORTED, RemoteDisconnected("closed"))), True),
        (requests.ConnectionError(ProtocolError(_ABORTED, ConnectionResetError())), True),
    ],
)
def test_only_failures_after_the_request_left_count_as_possibly_arrived(
    failure: requests.RequestException, may_have_arrived: bool
) -> None:
    assert may_have_reached_twilio(failure) is may_have_arrived
