"""SMTP and log-only mailers, against a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.mailer import (
    LogOnlyMailer,
    SmtpMailer,
    SmtpSecurity,
    mailer_from_url,
    message_id_left,
)
from config.settings import Settings
from config.wiring import build_dependencies
from intake.ports import SendError, SendRejected, SendUncertain
from tests.support.fakes import FakeClock
from tests.support.smtp import SmtpSink, free_port

DOMAIN = "example.com"
CUSTOMER = "kundin@example.com"
SENDER = "hotline@example.com"
SUBJECT = "Ihre Meldung SR-4711: Rückruf für Frau Müller"
BODY = "Grüße aus Köln \N{EN DASH} wir rufen zurück.\nDie Straße ist gesperrt.\n.\nEnde\n"


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with SmtpSink(reject_recipients=["niemand@example.com"]) as sink:
        yield sink


def send(mailer: SmtpMailer, *, to: str = CUSTOMER, message_id: str = "confirmation.4711") -> None:
    mailer.send_mail(to=to, subject=SUBJECT, body=BODY, message_id=message_id)


# -- delivery ----------------------------------------------------------------------------------


def test_mail_arrives_with_subject_body_umlauts_and_message_id(smtp_sink: SmtpSink) -> None:
    send(SmtpMailer.from_url(smtp_sink.url))

    [received] = smtp_sink.messages
    assert received["Subject"] == SUBJECT
    assert received["From"] == "hotline@example.com"
    assert received["To"] == CUSTOMER
    assert received["Message-ID"] == "<confirmation.4711@hotline>"
    assert received["Auto-Submitted"] == "auto-generated"
    assert received.get_content_charset() == "utf-8"
    assert received.get_content() == BODY
    [envelope] = smtp_sink.envelopes
    assert (envelope.mail_from, envelope.rcpt_tos) == ("hotline@example.com", (CUSTOMER,))


def test_message_id_is_the_same_on_every_retry(smtp_sink: SmtpSink) -> None:
    mailer = SmtpMailer.from_url(smtp_sink.url)

    send(mailer, message_id="confirmation:SR-4711:mail")
    send(mailer, message_id="confirmation:SR-4711:mail")

    first, second = smtp_sink.messages
    assert first["Message-ID"] == second["Message-ID"] == "<confirmation-SR-4711-mail@hotline>"


@pytest.mark.parametrize(
    ("key", "left"),
    [
        ("confirmation.4711", "confirmation.4711"),
        ("confirmation:SR-4711:mail", "confirmation-SR-4711-mail"),
        ("report:nord:2025-03-30", "report-nord-2025-03-30"),
        ("a..b.", "a.b"),
        ("Grüße", "Gr-e"),
        ("::", "-"),
    ],
)
def test_message_id_keys_become_valid_message_id_parts(key: str, left: str) -> None:
    assert message_id_left(key) == left


# -- failures ----------------------------------------------------------------------------------


def test_refused_recipient_is_rejected_for_good(smtp_sink: SmtpSink) -> None:
    with pytest.raises(SendRejected, match="550"):
        send(SmtpMailer.from_url(smtp_sink.url), to="niemand@example.com")

    assert smtp_sink.messages == []


def test_no_server_listening_is_a_plain_send_error() -> None:
    with pytest.raises(SendError, match="cannot connect") as raised:
        send(SmtpMailer.from_url(f"smtp://127.0.0.1:{free_port()}?from={SENDER}"))

    assert type(raised.value) is SendError


def test_connection_lost_after_the_message_left_is_uncertain() -> None:
    with SmtpSink(drop_after_data=True) as sink:
        with pytest.raises(SendUncertain, match="after the message"):
            send(SmtpMailer.from_url(sink.url))

        assert len(sink.messages) == 1


def test_starttls_against_a_server_without_it_is_a_plain_send_error(smtp_sink: SmtpSink) -> None:
    url = smtp_sink.url.replace("smtp://", "smtp+starttls://")

    with pytest.raises(SendError, match="STARTTLS") as raised:
        send(SmtpMailer.from_url(url))

    assert type(raised.value) is SendError
    assert smtp_sink.messages == []


def test_implicit_tls_against_a_plain_server_is_a_plain_send_error(smtp_sink: SmtpSink) -> None:
    url = smtp_sink.url.replace("smtp://", "smtps://")

    with pytest.raises(SendError, match="cannot connect") as raised:
        send(SmtpMailer.from_url(url))

    assert type(raised.value) is SendError


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"smtp://mail.example.com?from={SENDER}",
            SmtpMailer("mail.example.com", 25, SmtpSecurity.PLAIN, None, None, from_address=SENDER),
        ),
        (
            f"smtp+starttls://hotline:p%40ss%3Aword@mail.example.com?from={SENDER}",
            SmtpMailer(
                "mail.example.com",
                587,
                SmtpSecurity.STARTTLS,
                "hotline",
                "p@ss:word",
                from_address=SENDER,
            ),
        ),
        (
            f"smtps://mail.example.com?from=hotline@{DOMAIN}",
            SmtpMailer(
                "mail.example.com", 465, SmtpSecurity.TLS, from_address="hotline@example.com"
            ),
        ),
        (
            f"smtp://relay.internal:2525?from={SENDER}",
            SmtpMailer("relay.internal", 2525, SmtpSecurity.PLAIN, from_address=SENDER),
        ),
    ],
)
def test_smtp_url_picks_port_security_credentials_and_sender(
    url: str, expected: SmtpMailer
) -> None:
    assert SmtpMailer.from_url(url) == expected


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://mail.example.com", "must start with"),
        ("smtp://", "no host"),
        ("smtp://mail.example.com:99999", "bad port"),
        ("smtp://mail.example.com?sender=x@example.com", "unknown parameters: sender"),
        ("smtp://mail.example.com", "no sender: add \\?from="),
        ("smtp://mail.example.com?from=hotline@localhost", "from: 'hotline@localhost' is not"),
        ("smtp://mail.example.com?from=hotline", "from: 'hotline' is not an e-mail address"),
    ],
)
def test_bad_smtp_url_is_refused(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        SmtpMailer.from_url(url)


def test_password_stays_out_of_the_repr() -> None:
    mailer = SmtpMailer.from_url(f"smtp+starttls://hotline:geheim@mail.example.com?from={SENDER}")

    assert "geheim" not in repr(mailer)


@pytest.mark.parametrize("url", [None, "", "  "])
def test_without_smtp_url_the_mailer_only_logs(url: str | None) -> None:
    assert isinstance(mailer_from_url(url), LogOnlyMailer)


def test_with_smtp_url_the_mailer_sends() -> None:
    assert mailer_from_url(f"smtp://mail.example.com?from={SENDER}") == SmtpMailer(
        "mail.example.com", 25, from_address=SENDER
    )


def test_log_only_mailer_warns_that_nothing_was_sent_naming_only_the_domain(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="config.mailer"):
        LogOnlyMailer().send_mail(to=CUSTOMER, subject=SUBJECT, body=BODY, message_id="m1")

    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "NOT sent" in record.getMessage()
    assert "HOTLINE_SMTP_URL" in record.getMessage()
    assert "***@" + CUSTOMER.rpartition("@")[2] in record.getMessage()
    assert CUSTOMER not in record.getMessage()
    assert SUBJECT not in record.getMessage()
    assert BODY not in record.getMessage()


# -- the injected clock -------------------------------------------------------------------------


def test_the_date_header_comes_from_the_injected_clock() -> None:
    clock = FakeClock(datetime(2026, 3, 29, 0, 30, tzinfo=UTC))
    mailer = SmtpMailer.from_url(f"smtp://mail.example.com?from={SENDER}", clock=clock)

    message = mailer.compose(to=CUSTOMER, subject=SUBJECT, body=BODY, message_id="c.1")

    assert message["Date"] == "Sun, 29 Mar 2026 00:30:00 +0000"


def test_the_wired_mailer_dates_its_mail_by_the_processs_clock(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
            "HOTLINE_SMTP_URL": f"smtp://mail.example.com?from={SENDER}",
        },
        cwd=Path.cwd(),
    )
    clock = FakeClock(datetime(2026, 3, 29, 0, 30, tzinfo=UTC))
    deps = build_dependencies(settings, clock=clock)
    try:
        assert isinstance(deps.mailer, SmtpMailer)
        assert deps.mailer.clock is clock
    finally:
        deps.engine.dispose()
