"""``notify.smtp.send`` against a real SMTP server: aiosmtpd in this process, one port per server.

TLS uses a self-signed certificate made here with the ``openssl`` command, trusted by the
client through its own ``ssl`` context. No database: nothing here is parametrised by one.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session
from aiosmtpd.smtp import Envelope as ServerEnvelope

from calchub.server.notify.messages import CalculationFacts, Message, about_calculation
from calchub.server.notify.smtp import Envelope, SendFailed, SmtpSettings, send
from calchub.testing import free_port

SENDER = "calchub <calchub@lab.example.org>"
USER, PASSWORD = "alice", "s3cret"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    authenticated: bool

    def parsed(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class Inbox:
    """An aiosmtpd handler that keeps what it receives; refuses ``refused@`` for good, ``later@`` for now."""

    def __init__(self) -> None:
        self.received: list[Received] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: ServerEnvelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("refused@"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("later@"):
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: ServerEnvelope) -> str:
        content = envelope.original_content or b""
        self.received.append(
            Received(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                content,
                server.transport is not None and server.transport.get_extra_info("ssl_object") is not None,
                bool(session.authenticated),
            )
        )
        return "250 OK"


def _check_login(server: SMTP, session: Session, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    good = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alice", b"s3cret")
    return AuthResult(success=good, handled=False)  # not handled: the server answers 535 itself


@dataclass
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, good for a day."""
    folder = tmp_path_factory.mktemp("tls")
    made = Certificate(folder / "cert.pem", folder / "key.pem")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-keyout", str(made.key), "-out", str(made.cert), "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            *("-addext", "keyUsage=critical,digitalSignature,keyCertSign"),
            *("-addext", "extendedKeyUsage=serverAuth"),
        ],
        check=True,
        capture_output=True,
    )
    return made


Serve = Callable[..., tuple[Inbox, int]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """``serve(**smtp_options)`` starts an aiosmtpd server on a free port: its inbox and port."""
    started: list[Controller] = []

    def start(**options: Any) -> tuple[Inbox, int]:
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **options)
        controller.start()
        started.append(controller)
        return inbox, controller.port

    yield start
    for controller in started:
        controller.stop()


def _settings(port: int, security: str = "none", **changes: Any) -> SmtpSettings:
    chosen: dict[str, Any] = {"username": None, "password": None, "timeout": 5.0} | changes
    return SmtpSettings(host="127.0.0.1", port=port, security=security, sender=SENDER, **chosen)  # type: ignore[arg-type]


def _message() -> Message:
    facts = CalculationFacts(
        id=12,
        name="relax \u03b1 1.9",
        state="failed",
        project="materials",
        cluster="hpc",
        owner="alice",
        url="https://calc.example.org/calculations/12",
        message="exit code 1",
        log_tail="a line longer than a mail line may be " * 10,
    )
    return about_calculation(facts)


def _envelope(*to: str, **headers: str) -> Envelope:
    to = to or ("bob@example.org",)
    return Envelope(to=to, message=_message(), message_id="calc-12.failed.2", headers=headers)


def test_a_message_arrives_in_clear_with_both_parts_and_its_headers(serve: Serve) -> None:
    inbox, port = serve()
    extra = {"X-Calchub-Calculation": "12"}
    send(_settings(port), _envelope("bob@example.org", "carol@example.org", **extra))

    [got] = inbox.received
    assert got.mail_from == "calchub@lab.example.org" and not got.tls
    assert got.rcpt_tos == ["bob@example.org", "carol@example.org"]
    parsed = got.parsed()
    message = _message()
    assert parsed["From"] == SENDER and parsed["To"] == "bob@example.org, carol@example.org"
    assert parsed["Subject"] == message.subject == 'calchub: calculation 12 "relax \u03b1 1.9" failed'
    assert parsed["Message-ID"] == "<calc-12.failed.2@lab.example.org>"
    assert parsed["Auto-Submitted"] == "auto-generated" and parsed["X-Calchub-Calculation"] == "12"
    assert parsed["Date"].datetime.tzinfo is not None
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().replace("\r\n", "\n") == message.text
    assert html.get_content().replace("\r\n", "\n") == message.html


def test_the_same_message_sent_twice_carries_the_same_message_id(serve: Serve) -> None:
    inbox, port = serve()
    send(_settings(port), _envelope())
    send(_settings(port), _envelope())
    first, second = (got.parsed()["Message-ID"] for got in inbox.received)
    assert first == second


def test_starttls_with_a_trusted_certificate(serve: Serve, certificate: Certificate) -> None:
    inbox, port = serve(tls_context=certificate.server_context(), require_starttls=True)
    send(_settings(port, "starttls"), _envelope(), context=certificate.client_context())
    [got] = inbox.received
    assert got.tls and got.parsed()["Subject"] == _message().subject


def test_starttls_refuses_a_certificate_it_does_not_trust(serve: Serve, certificate: Certificate) -> None:
    inbox, port = serve(tls_context=certificate.server_context())
    with pytest.raises(SendFailed, match="certificate") as failed:
        send(_settings(port, "starttls"), _envelope(), context=ssl.create_default_context())
    assert not failed.value.retry and inbox.received == []


def test_starttls_does_not_go_on_in_clear_when_the_server_does_not_offer_it(serve: Serve) -> None:
    inbox, port = serve()
    with pytest.raises(SendFailed, match="STARTTLS") as failed:
        send(_settings(port, "starttls"), _envelope())
    assert not failed.value.retry and inbox.received == []


def test_implicit_tls(serve: Serve, certificate: Certificate) -> None:
    inbox, port = serve(ssl_context=certificate.server_context())
    send(_settings(port, "tls"), _envelope(), context=certificate.client_context())
    [got] = inbox.received
    assert got.tls and got.rcpt_tos == ["bob@example.org"]


def _login_server(serve: Serve, certificate: Certificate) -> tuple[Inbox, int]:
    return serve(
        tls_context=certificate.server_context(),
        authenticator=_check_login,
        auth_required=True,
        auth_require_tls=True,
    )


def test_login_after_starttls(serve: Serve, certificate: Certificate) -> None:
    inbox, port = _login_server(serve, certificate)
    settings = _settings(port, "starttls", username=USER, password=PASSWORD)
    send(settings, _envelope(), context=certificate.client_context())
    [got] = inbox.received
    assert got.tls and got.authenticated
    assert PASSWORD not in repr(settings)


def test_a_wrong_password_or_none_is_not_worth_a_retry(serve: Serve, certificate: Certificate) -> None:
    inbox, port = _login_server(serve, certificate)
    with pytest.raises(SendFailed) as wrong:
        wrong_password = _settings(port, "starttls", username=USER, password="nope")
        send(wrong_password, _envelope(), context=certificate.client_context())
    assert (wrong.value.retry, wrong.value.code) == (False, 535)
    with pytest.raises(SendFailed) as anonymous:
        send(_settings(port, "starttls"), _envelope(), context=certificate.client_context())
    assert (anonymous.value.retry, anonymous.value.code) == (False, 530)
    assert inbox.received == []


def test_a_server_that_is_down_is_worth_a_retry() -> None:
    with pytest.raises(SendFailed, match="cannot reach") as failed:
        send(_settings(free_port()), _envelope())
    assert failed.value.retry and failed.value.code is None


def test_a_server_that_never_answers_times_out_and_is_worth_a_retry() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(SendFailed) as failed:
            send(_settings(silent.getsockname()[1], timeout=0.2), _envelope())
    assert failed.value.retry


def test_a_recipient_refused_for_good_is_not_worth_a_retry(serve: Serve) -> None:
    inbox, port = serve()
    with pytest.raises(SendFailed, match=r"refused@example\.org: 550") as failed:
        send(_settings(port), _envelope("refused@example.org"))
    assert (failed.value.retry, failed.value.code) == (False, 550)
    assert inbox.received == []


def test_a_recipient_refused_for_now_is_worth_a_retry(serve: Serve) -> None:
    _, port = serve()
    with pytest.raises(SendFailed) as failed:
        send(_settings(port), _envelope("later@example.org"))
    assert (failed.value.retry, failed.value.code) == (True, 451)


def test_some_recipients_refused_the_others_get_it(serve: Serve) -> None:
    inbox, port = serve()
    with pytest.raises(SendFailed, match="some recipients") as failed:
        send(_settings(port), _envelope("bob@example.org", "refused@example.org"))
    assert not failed.value.retry
    assert [got.rcpt_tos for got in inbox.received] == [["bob@example.org"]]


def test_a_header_send_writes_itself_is_refused_before_connecting() -> None:
    with pytest.raises(SendFailed, match="Message-ID") as failed:
        send(_settings(free_port()), _envelope(**{"Message-ID": "<other@x>"}))
    assert not failed.value.retry
