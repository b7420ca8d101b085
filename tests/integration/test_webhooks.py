"""Webhooks: a project's managers add and remove them through the API, the client and the CLI;
``notify.webhooks.post`` sends a signed body to a real HTTP receiver and says when to retry.

The management tests run on each database; the ``post`` tests need none (a
``ThreadingHTTPServer`` in a thread of this process is the receiver). That a notice reaches a
webhook through the notifier is tested with the notifier, in ``test_notifications.py``.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import calchub
from calchub.client import Client, Conflict, Forbidden, NotFound
from calchub.contracts.webhooks import MAX_WEBHOOKS
from calchub.server.notify.webhooks import SIGNATURE_HEADER, SendFailed, post, verify
from calchub.testing import ServerThread, free_port
from tests.integration.helpers import call, cli

HOOK = "https://chat.example.invalid/hooks/calchub"

# -- managing a project's webhooks ----------------------------------------------------------------


@dataclass
class Team:
    """Project ``beamline`` with a manager ``mia`` and a member ``max``; ``olga`` is in no project."""

    manager: Client
    member: Client
    outsider: Client


@pytest.fixture
def team(client: Client, make_user: Callable[..., Client]) -> Team:
    people = Team(make_user("mia"), make_user("max"), make_user("olga"))
    client.create_project("beamline")
    client.add_member("beamline", "mia", "manager")
    client.add_member("beamline", "max")
    return people


def token_of(user: Client) -> str:
    return user.create_token("webhooks").token


def test_a_manager_adds_a_webhook_and_sees_its_secret_once(team: Team, server: ServerThread) -> None:
    made = team.manager.add_webhook("beamline", HOOK, level="error")
    assert (made.project, made.url, made.level) == ("beamline", HOOK, "error")
    assert len(made.secret) >= 43  # 32 random bytes
    for viewer in (team.manager, team.member):
        assert [(h.id, h.url, h.level) for h in viewer.webhooks("beamline")] == [(made.id, HOOK, "error")]
    answer = call(server.url, "GET", "/projects/beamline/webhooks", token_of(team.member))
    assert answer.status_code == 200
    assert "secret" not in answer.json()[0]
    assert made.secret not in answer.text
    other = team.manager.add_webhook("beamline", HOOK)
    assert other.secret != made.secret
    assert other.level == "info"


def test_a_manager_removes_a_webhook(team: Team, client: Client) -> None:
    first = team.manager.add_webhook("beamline", HOOK)
    second = team.manager.add_webhook("beamline", HOOK + "/2")
    team.manager.remove_webhook("beamline", first.id)
    assert [h.id for h in team.manager.webhooks("beamline")] == [second.id]
    with pytest.raises(NotFound, match="no webhook"):
        team.manager.remove_webhook("beamline", first.id)
    client.remove_webhook("beamline", second.id)  # admins too
    assert client.webhooks("beamline") == []


def test_a_member_lists_but_cannot_add_or_remove(team: Team, server: ServerThread) -> None:
    made = team.manager.add_webhook("beamline", HOOK)
    with pytest.raises(Forbidden, match="managers"):
        team.member.add_webhook("beamline", HOOK)
    with pytest.raises(Forbidden, match="managers"):
        team.member.remove_webhook("beamline", made.id)
    answer = call(
        server.url, "POST", "/projects/beamline/webhooks", token_of(team.member), json={"url": HOOK}
    )
    assert answer.status_code == 403
    assert [h.id for h in team.member.webhooks("beamline")] == [made.id]


def test_someone_outside_the_project_is_told_it_does_not_exist(team: Team) -> None:
    made = team.manager.add_webhook("beamline", HOOK)
    with pytest.raises(NotFound, match="no project named"):
        team.outsider.webhooks("beamline")
    with pytest.raises(NotFound, match="no project named"):
        team.outsider.add_webhook("beamline", HOOK)
    with pytest.raises(NotFound, match="no project named"):
        team.outsider.remove_webhook("beamline", made.id)
    assert len(team.manager.webhooks("beamline")) == 1


def test_a_webhook_is_removed_only_through_its_own_project(team: Team, client: Client) -> None:
    made = team.manager.add_webhook("beamline", HOOK)
    with pytest.raises(NotFound, match="no webhook"):
        team.manager.remove_webhook("~mia", made.id)  # a project she manages, not the webhook's
    assert [h.id for h in client.webhooks("beamline")] == [made.id]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://files.example.org/drop",
        "https://user:pass@chat.example.org/hook",
        "https://bot@chat.example.org",
    ],
)
def test_a_url_that_is_not_http_or_carries_credentials_is_refused_naming_url(
    team: Team, server: ServerThread, url: str
) -> None:
    answer = call(
        server.url, "POST", "/projects/beamline/webhooks", token_of(team.manager), json={"url": url}
    )
    assert answer.status_code == 422, answer.text
    problem = answer.json()["detail"][0]
    assert problem["loc"] == ["body", "url"]
    assert "http" in problem["msg"] or "password" in problem["msg"]
    assert team.manager.webhooks("beamline") == []


def test_a_project_has_at_most_ten_webhooks(team: Team) -> None:
    for n in range(MAX_WEBHOOKS):
        team.manager.add_webhook("beamline", f"{HOOK}/{n}")
    with pytest.raises(Conflict, match="remove one first") as refused:
        team.manager.add_webhook("beamline", HOOK)
    assert refused.value.status == 409
    assert len(team.manager.webhooks("beamline")) == MAX_WEBHOOKS
    team.manager.remove_webhook("beamline", team.manager.webhooks("beamline")[0].id)
    team.manager.add_webhook("beamline", HOOK)  # a place was freed


def test_the_cli_adds_lists_and_removes_webhooks(team: Team, server: ServerThread) -> None:
    token = token_of(team.manager)
    said = cli(server.url, token, "project", "webhook", "add", "beamline", HOOK, "--level", "error")
    assert "not be shown again" in said
    made = json.loads(cli(server.url, token, "project", "webhook", "ls", "beamline", "--json"))
    assert [(h["url"], h["level"]) for h in made] == [(HOOK, "error")]
    assert "secret" not in made[0]
    secret = said.split("secret: ")[1].split()[0]
    assert secret not in cli(server.url, token, "project", "webhook", "ls", "beamline")
    removed = cli(server.url, token, "project", "webhook", "rm", "beamline", str(made[0]["id"]))
    assert f"removed webhook {made[0]['id']}" in removed
    assert team.manager.webhooks("beamline") == []
    refused = cli(server.url, token, "project", "webhook", "add", "beamline", "ftp://x.example", code=1)
    assert "url" in refused
    wrong = cli(server.url, token, "project", "webhook", "add", "beamline", HOOK, "--level", "all", code=1)
    assert "--level is one of info, error" in wrong


# -- sending: notify.webhooks.post against a real receiver ---------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server that answers each POST with the next of ``answers`` (then 200)."""

    url: str
    answers: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    got: list[Received] = field(default_factory=list)
    #: Seconds to wait before answering.
    delay: float = 0.0
    #: What went wrong on the receiver's side (a TLS handshake the client broke off).
    errors: list[BaseException] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    receiver: Receiver

    def handle_error(self, request: object, client_address: object) -> None:
        """Keep the error for the test instead of printing it."""
        error = sys.exc_info()[1]
        if error is not None:
            self.receiver.errors.append(error)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.got.append(Received(self.path, dict(self.headers.items()), body))
            time.sleep(receiver.delay)
            answer = receiver.answers.pop(0) if receiver.answers else 200
            status, extra = answer if isinstance(answer, tuple) else (answer, {})
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet

    return Handler


Serve = Callable[..., Receiver]


@pytest.fixture
def receive() -> Iterator[Serve]:
    """``receive(tls=None)`` starts a receiver on a free port of 127.0.0.1, served by a thread."""
    running: list[tuple[_Server, threading.Thread]] = []

    def start(tls: ssl.SSLContext | None = None) -> Receiver:
        receiver = Receiver("")
        server = _Server(("127.0.0.1", 0), _handler(receiver))
        server.receiver = receiver
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        receiver.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}/hook"
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        running.append((server, thread))
        return receiver

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(5)


SECRET = "a-secret-of-the-webhook"
BODY = json.dumps({"id": 7, "kind": "calculation.failed", "level": "error", "text": "calc 3 failed"}).encode()


def _post(url: str, delivery: str = "delivery-7", timeout: float = 5.0) -> None:
    post(url, SECRET, BODY, event="calculation.failed", delivery=delivery, timeout=timeout)


def test_the_body_arrives_signed_with_its_headers(receive: Serve) -> None:
    receiver = receive()
    _post(receiver.url + "?via=test")
    [got] = receiver.got
    assert (got.path, got.body) == ("/hook?via=test", BODY)
    assert verify(SECRET, got.body, got.headers[SIGNATURE_HEADER])
    assert not verify("another secret", got.body, got.headers[SIGNATURE_HEADER])
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Calchub-Event"] == "calculation.failed"
    assert got.headers["X-Calchub-Delivery"] == "delivery-7"
    assert got.headers["User-Agent"] == f"calchub/{calchub.__version__}"


def test_a_5xx_is_retried_and_the_retry_carries_the_same_delivery_and_signature(receive: Serve) -> None:
    receiver = receive()
    receiver.answers = [500]
    with pytest.raises(SendFailed) as failed:
        _post(receiver.url)
    assert (failed.value.retry, failed.value.code) == (True, 500)
    assert str(failed.value) == f"{receiver.url} answered 500"
    _post(receiver.url)  # the outbox's retry: 200
    first, second = receiver.got
    assert first.body == second.body == BODY
    assert first.headers["X-Calchub-Delivery"] == second.headers["X-Calchub-Delivery"] == "delivery-7"
    assert first.headers[SIGNATURE_HEADER] == second.headers[SIGNATURE_HEADER]


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (404, False),
        (400, False),
        (401, False),
        (410, False),
        (408, True),
        (429, True),
        (502, True),
        (503, True),
    ],
)
def test_4xx_is_final_except_408_and_429(receive: Serve, status: int, retry: bool) -> None:
    receiver = receive()
    receiver.answers = [status]
    with pytest.raises(SendFailed, match=f"answered {status}") as failed:
        _post(receiver.url)
    assert (failed.value.retry, failed.value.code) == (retry, status)


def test_2xx_is_success(receive: Serve) -> None:
    receiver = receive()
    receiver.answers = [201, 202, 204]
    for _ in range(3):
        _post(receiver.url)
    assert len(receiver.got) == 3


def test_a_redirect_is_not_followed(receive: Serve) -> None:
    receiver, elsewhere = receive(), receive()
    receiver.answers = [(301, {"Location": elsewhere.url + "?key=hidden"})]
    with pytest.raises(SendFailed, match=r"answered 301 \(redirects are not followed") as failed:
        _post(receiver.url)
    assert not failed.value.retry
    assert elsewhere.url in str(failed.value)
    assert "hidden" not in str(failed.value)  # a query may carry a key: not in messages or logs
    assert (len(receiver.got), elsewhere.got) == (1, [])


def test_the_message_leaves_out_the_urls_query(receive: Serve) -> None:
    receiver = receive()
    receiver.answers = [500]
    with pytest.raises(SendFailed) as failed:
        _post(receiver.url + "?token=very-secret")
    assert "very-secret" not in str(failed.value)


def test_a_closed_port_is_retried() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    with pytest.raises(SendFailed, match="cannot reach") as failed:
        _post(url)
    assert failed.value.retry
    assert url in str(failed.value)


def test_a_receiver_slower_than_the_timeout_is_retried(receive: Serve) -> None:
    receiver = receive()
    receiver.delay = 0.5
    with pytest.raises(SendFailed, match=r"did not answer within 0\.1 s") as failed:
        _post(receiver.url, timeout=0.1)
    assert failed.value.retry


def test_an_untrusted_certificate_is_not_retried(receive: Serve, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    receiver = receive(tls)
    with pytest.raises(SendFailed, match="certificate is not trusted") as failed:
        _post(receiver.url)
    assert not failed.value.retry
    assert receiver.got == []
    assert all(isinstance(error, ssl.SSLError) for error in receiver.errors)
