"""Notifications by email against a real SMTP server (aiosmtpd in this process): who is told
of what, the study's one message, a served model that failed, the digest, and a mail server
that is down for a while."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import threading
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, select, text

from calchub.client import Client
from calchub.server.db.tables import ModelVersion, Notice, Project, User
from calchub.server.hub import Hub
from calchub.server.services.models import log_path
from calchub.server.services.transitions import NOTICES
from calchub.server.services.unit import wake
from calchub.server.settings import Settings
from calchub.testing import ServerThread, free_port
from tests.integration.helpers import HandAgent

SUCCEED = {"type": "python", "inputs": {"code": "def main():\n    return {'x': 1}\n", "function": "main"}}


class Inbox:
    """What the SMTP server received: (recipients, message), in order."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []
        self._changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._changed:
            self.received.append((list(envelope.rcpt_tos), message))
            self._changed.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 20) -> list[tuple[list[str], EmailMessage]]:
        with self._changed:
            arrived = self._changed.wait_for(lambda: len(self.received) >= count, timeout)
            assert arrived, f"{len(self.received)} of {count} messages arrived: {self.subjects()}"
            return list(self.received)

    def wait_until(self, done: Callable[[], bool], timeout: float = 20) -> None:
        with self._changed:
            assert self._changed.wait_for(done, timeout), f"still waiting; received: {self.subjects()}"

    def told(self, to: str, calc_id: int) -> int:
        """How many messages to ``to`` tell of calculation ``calc_id`` (alone or in a digest)."""
        link = f"/calculations/{calc_id}"
        return sum(
            1
            for rcpt, m in self.received
            if to in rcpt and link in str(m.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
        )

    def subjects(self, to: str | None = None) -> list[str]:
        return [str(m["Subject"]) for rcpt, m in self.received if to is None or to in rcpt]


class MailServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, mail: MailServer, request: pytest.FixtureRequest) -> Settings:
    marker = request.node.get_closest_marker("settings")  # the test's own, over these
    chosen = {
        "smtp_host": "127.0.0.1",
        "smtp_port": mail.port,
        "smtp_security": "none",
        "smtp_sender": "calchub@lab.example.org",
        "public_url": "https://calchub.example.org",
        "notify_digest_seconds": 0.0,
        "notify_retry_seconds": 0.2,
    }
    return settings.model_copy(update=chosen | (marker.kwargs if marker else {}))


@pytest.fixture
def agent(server: ServerThread, made: Any) -> HandAgent:
    return HandAgent(server.url, made.agent_key)


@pytest.fixture
def people(client: Client, make_user: Callable[..., Client]) -> dict[str, Client]:
    """alice wants every change, bob errors only, carol nothing; the admin gets errors."""
    client.update_me(email="admin@lab.example.org")
    found = {"admin": client}
    for name, level in (("alice", "info"), ("bob", "error"), ("carol", "none")):
        found[name] = make_user(name)
        found[name].update_me(email=f"{name}@lab.example.org", notify=level)
    return found


REASON = "the model's process exited with code 3; failed 5 times in a row, so it is left stopped"
MODEL_LOG = "".join(f"loading shard {n}\n" for n in range(30)) + "ValueError: bad density\n"


def fail_model(hub: Hub, owner: str, project: str, name: str = "lj-energy", version: str = "1") -> int:
    """A version of ``owner``'s in ``project`` as the model supervisor leaves one that failed too
    often: the row, its log, and a ``model.failed`` notice, in one transaction that wakes the
    notifier (``hub`` is the running server's, so the wake-up reaches it on SQLite too). No model
    process is started."""
    with hub.uow() as session:
        owner_id = session.scalar(select(User.id).where(User.username == owner))
        project_id = session.scalar(select(Project.id).where(Project.name == project))
        assert owner_id is not None and project_id is not None
        model = ModelVersion(
            name=name,
            version=version,
            project_id=project_id,
            owner_id=owner_id,
            runtime="process",
            spec={"command": ["python", "serve.py"]},
            state="failed",
            message=REASON,
            restarts=4,
            failures=5,
            host="node7",
        )
        session.add(model)
        session.flush()
        log = log_path(hub.store, model.id)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(MODEL_LOG)
        session.add(
            Notice(
                kind="model.failed", level="error", model_id=model.id, project_id=project_id, message=REASON
            )
        )
        wake(session, NOTICES)
        return model.id


def _body(message: EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None, f"no {kind} part"
    return str(part.get_content())


def test_each_is_told_as_their_level_says_and_admins_of_every_error(
    mail: MailServer, people: dict[str, Client], agent: HandAgent
) -> None:
    ok = people["alice"].submit(["true"], name="fine run")
    agent.run(ok.id, "completed", exit_code=0)
    broken = people["bob"].submit(["false"], name="broken run", notify=["pi@lab.example.org"])
    agent.run(broken.id, "failed", exit_code=1, message="exit code 1")
    quiet = people["carol"].submit(["false"], name="quiet run")
    agent.run(quiet.id, "failed", exit_code=1, message="exit code 1")
    received = mail.inbox.wait_for(6)
    assert mail.inbox.subjects("alice@lab.example.org") == [
        f'calchub: calculation {ok.id} "fine run" is running',
        f'calchub: calculation {ok.id} "fine run" completed',
    ]
    assert mail.inbox.subjects("bob@lab.example.org") == [
        f'calchub: calculation {broken.id} "broken run" failed'
    ]
    assert mail.inbox.subjects("pi@lab.example.org") == [
        f'calchub: calculation {broken.id} "broken run" failed'
    ]
    assert mail.inbox.subjects("carol@lab.example.org") == [], "carol chose none"
    assert sorted(mail.inbox.subjects("admin@lab.example.org")) == sorted(
        [
            f'calchub: calculation {broken.id} "broken run" failed',
            f'calchub: calculation {quiet.id} "quiet run" failed',
        ]
    )
    failed = next(m for rcpt, m in received if rcpt == ["bob@lab.example.org"])
    assert failed["From"] == "calchub@lab.example.org" and failed["Message-ID"]
    for kind in ("plain", "html"):
        body = _body(failed, kind)
        assert "exit code 1" in body and f"https://calchub.example.org/calculations/{broken.id}" in body


def test_a_study_sends_one_message_when_it_finishes_with_its_failures(
    mail: MailServer, people: dict[str, Client], agent: HandAgent
) -> None:
    made = people["alice"].sweep(
        "runs",
        SUCCEED | {"name": "point"},
        product=[{"input": "kwargs", "values": [{}, {}, {}, {}, {}]}],
    )
    calcs = sorted(people["alice"].list(study="runs"), key=lambda c: c.id)
    for calc in calcs[:-1]:
        agent.run(calc.id, "completed", exit_code=0)
    agent.run(calcs[-1].id, "failed", exit_code=1, message="diverged")
    mail.inbox.wait_for(2)
    assert mail.inbox.subjects("alice@lab.example.org") == [
        'calchub: study "runs" finished: 4 completed, 1 failed'
    ], "one message for the study, none for each of its calculations"
    assert mail.inbox.subjects("admin@lab.example.org") == [
        'calchub: study "runs" finished: 4 completed, 1 failed'
    ]
    text_part = _body(mail.inbox.received[0][1], "plain")
    assert "diverged" in text_part and f"https://calchub.example.org/studies/{made.id}" in text_part


@pytest.mark.settings(notify_digest_seconds=3.0)
def test_a_burst_of_errors_goes_as_one_digest(
    mail: MailServer, people: dict[str, Client], agent: HandAgent
) -> None:
    first = people["bob"].submit(["false"], name="first")
    agent.run(first.id, "failed", exit_code=1, message="exit code 1")
    mail.inbox.wait_for(2)  # bob's and the admin's, at once
    burst = [people["bob"].submit(["false"], name=f"burst {n}") for n in range(3)]
    for calc in burst:
        agent.run(calc.id, "failed", exit_code=1, message="exit code 1")
    mail.inbox.wait_for(4)  # then one more each, at the end of the window
    told = mail.inbox.subjects("bob@lab.example.org")
    assert told[0] == f'calchub: calculation {first.id} "first" failed' and len(told) == 2
    assert told[1].startswith("calchub: 3 calculations failed"), told[1]
    digest = next(m for rcpt, m in mail.inbox.received[2:] if rcpt == ["bob@lab.example.org"])
    assert all(f"/calculations/{calc.id}" in _body(digest, "plain") for calc in burst)


class Failures(logging.Handler):
    """Counts the notifier's failed sends, and lets a test wait for the first."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "action", None) == "notify.failed":
            self.seen.set()


def test_a_mail_server_that_is_down_delays_mail_but_not_calculations(
    mail: MailServer, people: dict[str, Client], agent: HandAgent, settings: Settings
) -> None:
    failures = Failures()
    logging.getLogger("calchub.server").addHandler(failures)
    try:
        mail.stop()
        down = []
        for n in range(3):
            calc = people["bob"].submit(["false"], name=f"while down {n}")
            agent.run(calc.id, "failed", exit_code=1, message="exit code 1")
            down.append(calc.id)
        assert {people["bob"].get(i).state for i in down} == {"failed"}, "calculations carry on"
        assert failures.seen.wait(20), "the notifier tried and failed"
        mail.start()
        everyone = ("bob@lab.example.org", "admin@lab.example.org")
        mail.inbox.wait_until(lambda: all(mail.inbox.told(to, i) for to in everyone for i in down))
        # One more: once it has arrived, the notifier has marked all before it as sent.
        last = people["bob"].submit(["false"], name="after")
        agent.run(last.id, "failed", exit_code=1, message="exit code 1")
        mail.inbox.wait_until(lambda: all(mail.inbox.told(to, last.id) for to in everyone))
    finally:
        logging.getLogger("calchub.server").removeHandler(failures)
    assert all(mail.inbox.told(to, i) == 1 for to in everyone for i in [*down, last.id]), "each once"
    engine = create_engine(settings.resolved_database_url())
    try:
        with engine.connect() as db:
            query = "SELECT state, attempts FROM deliveries WHERE channel = 'email' ORDER BY id LIMIT 6"
            rows = db.execute(text(query)).all()
    finally:
        engine.dispose()
    assert [state for state, _ in rows] == ["sent"] * 6
    assert any(attempts > 0 for _, attempts in rows), "sent after failing first"


def test_what_was_pending_when_the_server_stopped_is_delivered_once_after_it_starts(
    mail: MailServer, settings: Settings, made: Any
) -> None:
    failures = Failures()
    logging.getLogger("calchub.server").addHandler(failures)
    try:
        mail.stop()
        with ServerThread(settings) as first, Client(first.url, made.token) as admin:
            admin.update_me(email="admin@lab.example.org")
            calc = admin.submit(["false"], name="before the stop")
            HandAgent(first.url, made.agent_key).run(calc.id, "failed", exit_code=1, message="exit code 1")
            assert failures.seen.wait(20), "the notifier tried and failed"
        mail.start()
        with ServerThread(settings):
            mail.inbox.wait_for(1)
    finally:
        logging.getLogger("calchub.server").removeHandler(failures)
    assert mail.inbox.subjects() == [f'calchub: calculation {calc.id} "before the stop" failed']


class Receiver:
    """A chat server's webhook endpoint: answers 500 to the first POST, then 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.changed:
                    receiver.posts.append((dict(self.headers), body))
                    first = len(receiver.posts) == 1
                    receiver.changed.notify_all()
                self.send_response(500 if first else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 20) -> list[tuple[dict[str, str], bytes]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.posts) >= count, timeout), self.posts
            return list(self.posts)


def test_a_project_s_webhook_gets_its_notices_signed_and_again_after_an_error(
    client: Client, people: dict[str, Client], agent: HandAgent
) -> None:
    from calchub.server.notify.webhooks import SIGNATURE_HEADER, verify

    receiver = Receiver()
    try:
        client.create_project("lab")
        client.add_member("lab", "bob")
        hook = client.add_webhook("lab", receiver.url, level="error")
        ok = people["bob"].submit(["true"], project="lab", name="fine")
        agent.run(ok.id, "completed", exit_code=0)
        broken = people["bob"].submit(["false"], project="lab", name="broken")
        agent.run(broken.id, "failed", exit_code=1, message="exit code 1")
        posts = receiver.wait_for(2)  # refused once, then taken
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
    (first_headers, first_body), (headers, body) = posts
    assert body == first_body and headers["X-Calchub-Delivery"] == first_headers["X-Calchub-Delivery"]
    assert verify(hook.secret, body, headers[SIGNATURE_HEADER])
    assert not verify(hook.secret, body + b" ", headers[SIGNATURE_HEADER])
    event = json.loads(body)
    assert (event["kind"], event["level"]) == ("calculation.failed", "error"), (
        "the completion is below its level"
    )
    assert event["calculation"]["id"] == broken.id and event["calculation"]["message"] == "exit code 1"
    assert event["text"] == f'calculation {broken.id} "broken" failed'


@pytest.mark.settings(run_models=False)
def test_a_failed_model_is_told_to_its_owner_admins_their_feeds_and_the_project_s_webhook(
    mail: MailServer, client: Client, people: dict[str, Client], server: ServerThread
) -> None:
    receiver = Receiver()
    try:
        client.create_project("lab")
        client.add_member("lab", "bob")
        client.add_webhook("lab", receiver.url, level="error")
        model_id = fail_model(server.app.state.hub, "bob", "lab")
        mail.inbox.wait_for(2)
        posts = receiver.wait_for(2)  # refused once, then taken
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
    subject = "calchub: model lj-energy 1 failed"
    assert mail.inbox.subjects("bob@lab.example.org") == [subject], "bob asked for errors"
    assert mail.inbox.subjects("admin@lab.example.org") == [subject]
    assert mail.inbox.subjects("alice@lab.example.org") == [], "not hers"
    told = next(m for rcpt, m in mail.inbox.received if rcpt == ["bob@lab.example.org"])
    page = "https://calchub.example.org/models/lj-energy"
    for kind in ("plain", "html"):
        body = _body(told, kind)
        for fact in ("lj-energy", "lab", "bob", "process", "node7", "ValueError: bad density", page):
            assert fact in body, (kind, fact)
        assert "loading shard 29" in body and "loading shard 9\n" not in body, "the last lines"
    assert REASON in _body(told, "plain") and "Restarts: 4" in _body(told, "plain")

    for reader in (people["bob"], client):
        (notice,) = [n for n in reader.notices().items if n.kind == "model.failed"]
        assert (notice.model_id, notice.model_name, notice.model_version) == (model_id, "lj-energy", "1")
        assert notice.level == "error" and not notice.read
        assert notice.what == f"model lj-energy 1 failed: {REASON}"
    assert people["alice"].notices().items == []

    event = json.loads(posts[-1][1])
    assert (event["kind"], event["level"], event["text"]) == ("model.failed", "error", subject[9:])
    assert "calculation" not in event and "study" not in event
    model = event["model"]
    assert (model["id"], model["name"], model["version"], model["project"]) == (
        model_id,
        "lj-energy",
        "1",
        "lab",
    )
    assert (model["owner"], model["state"], model["message"], model["url"]) == ("bob", "failed", REASON, page)
    assert model["log_tail"].endswith("ValueError: bad density\n")


@pytest.mark.settings(notify_digest_seconds=3.0, run_models=False)
def test_a_model_that_fails_among_a_burst_of_failures_is_told_alone_beside_the_digest(
    mail: MailServer, people: dict[str, Client], agent: HandAgent, server: ServerThread
) -> None:
    first = people["bob"].submit(["false"], name="first")
    agent.run(first.id, "failed", exit_code=1, message="exit code 1")
    mail.inbox.wait_for(2)  # bob's and the admin's, at once
    fail_model(server.app.state.hub, "bob", "~bob")
    burst = [people["bob"].submit(["false"], name=f"burst {n}") for n in range(2)]
    for calc in burst:
        agent.run(calc.id, "failed", exit_code=1, message="exit code 1")
    mail.inbox.wait_for(6)  # then two more each at the end of the window: the digest and the model's
    for to in ("bob@lab.example.org", "admin@lab.example.org"):
        told = mail.inbox.subjects(to)
        assert len(told) == 3 and told[0] == f'calchub: calculation {first.id} "first" failed', told
        assert "calchub: model lj-energy 1 failed" in told[1:], told
        (digest,) = [s for s in told[1:] if s.startswith("calchub: 2 calculations failed")]
        body = _body(
            next(m for rcpt, m in mail.inbox.received if m["Subject"] == digest and to in rcpt), "plain"
        )
        assert all(f"/calculations/{calc.id}" in body for calc in burst) and "lj-energy" not in body
