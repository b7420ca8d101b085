"""The in-app feed of notices over real HTTP, on both databases: who is told of what, the unread
count, marking read (one's own only), paging, the CLI, and the Notices page with the badge every
page shows.

Notices come from real calculations run by a hand agent; the notifier spreads them into in-app
deliveries after the commit, so a test waits for them on the ``inbox`` wake-up the spreading
fires (:class:`Spread`), never by sleeping.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from calchub.client import Client
from calchub.contracts.inbox import NoticePage
from calchub.server.hub import Hub
from calchub.server.services.notices import INBOX
from calchub.testing import ServerThread
from tests.integration.helpers import PAGE_PASSWORD, HandAgent, call, cli
from tests.integration.test_notifications import REASON, fail_model

SUCCEED = {"type": "python", "inputs": {"code": "def main():\n    return {'x': 1}\n", "function": "main"}}


class Spread:
    """Lets a test wait until a feed holds what it should: woken by the ``inbox`` wake-up, which
    the notifier fires once it has committed new in-app deliveries."""

    def __init__(self, hub: Hub) -> None:
        self._fired = 0
        self._changed = threading.Condition()
        hub.wakeups.on(INBOX, self._wake)

    def _wake(self) -> None:
        with self._changed:
            self._fired += 1
            self._changed.notify_all()

    def feed(self, client: Client, count: int, timeout: float = 20) -> NoticePage:
        """``client``'s feed once it holds ``count`` notices (fails after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                fired = self._fired
            page = client.notices(limit=200)
            if len(page.items) >= count:
                return page
            woken = self._fires_after(fired, deadline)
            assert woken, f"{len(page.items)} of {count} notices arrived: {[n.what for n in page.items]}"

    def _fires_after(self, fired: int, deadline: float) -> bool:
        """Whether the wake-up fires again after its ``fired``-th time before ``deadline``."""
        with self._changed:
            left = max(0.0, deadline - time.monotonic())
            return self._changed.wait_for(lambda: self._fired != fired, left)


@pytest.fixture
def hub(server: ServerThread) -> Hub:
    found: Hub = server.app.state.hub
    return found


@pytest.fixture
def spread(hub: Hub) -> Spread:
    return Spread(hub)


@pytest.fixture
def agent(server: ServerThread, made: Any) -> HandAgent:
    return HandAgent(server.url, made.agent_key)


@pytest.fixture
def people(client: Client, make_user: Callable[..., Client]) -> dict[str, Client]:
    """alice and bob (who sign in to the pages too), the admin, and root, an admin with no email
    address. alice asked for no email: the app tells people whatever their email settings."""
    client.update_me(email="admin@lab.example.org")
    found = {"admin": client, "root": make_user("root", role="admin")}
    for name in ("alice", "bob"):
        found[name] = make_user(name, password=PAGE_PASSWORD)
    found["alice"].update_me(notify="none")
    return found


def _failed(agent: HandAgent, owner: Client, name: str, message: str) -> int:
    calc = owner.submit(["false"], name=name)
    agent.run(calc.id, "failed", exit_code=1, message=message)
    return calc.id


def test_the_owner_is_told_of_their_calculations_others_of_none_and_admins_of_the_errors(
    people: dict[str, Client], agent: HandAgent, spread: Spread
) -> None:
    alice, bob, admin = people["alice"], people["bob"], people["admin"]
    broken = _failed(agent, alice, "relax", "diverged\nat step 12")
    fine = alice.submit(["true"], name="fine")
    agent.run(fine.id, "completed", exit_code=0)
    mine = spread.feed(alice, 4)
    assert [(n.calculation_id, n.kind) for n in mine.items] == [
        (fine.id, "calculation.completed"),
        (fine.id, "calculation.running"),
        (broken, "calculation.failed"),
        (broken, "calculation.running"),
    ], "every notice of hers, newest first, although she asked for no email"
    assert mine.unread == 4 and not any(n.read for n in mine.items) and mine.older is None
    failed = mine.items[2]
    assert (failed.level, failed.calculation_name) == ("error", "relax")
    assert failed.message == "diverged\nat step 12"
    assert failed.what == f'calculation {broken} "relax" failed: diverged at step 12'
    assert mine.items[0].what == f'calculation {fine.id} "fine" completed'
    assert mine.items[1].what == f'calculation {fine.id} "fine" is running'
    errors = spread.feed(admin, 1)
    assert [(n.calculation_id, n.kind, n.level) for n in errors.items] == [
        (broken, "calculation.failed", "error")
    ], "admins are told of errors only (of anyone's)"
    assert errors.items[0].id != failed.id, "each reader has their own delivery"
    told = spread.feed(people["root"], 1).items
    assert [n.calculation_id for n in told] == [broken], "an admin with no email address too"
    assert bob.notices().items == [] and bob.notices().unread == 0, "bob is told of nothing of hers"


def test_pages_of_the_feed_unread_only_and_marking_ones_own_read(
    people: dict[str, Client], agent: HandAgent, spread: Spread, server: ServerThread
) -> None:
    alice, bob, admin = people["alice"], people["bob"], people["admin"]
    for n in range(3):
        _failed(agent, alice, f"run {n}", "exit code 1")
    everything = spread.feed(alice, 6).items
    first = alice.notices(limit=4)
    second = alice.notices(before=first.older, limit=4)
    assert [n.id for n in first.items + second.items] == [n.id for n in everything]
    assert first.older == first.items[-1].id and second.older is None and second.unread == 6
    spread.feed(admin, 3)

    read = [n.id for n in everything[:2]]
    assert alice.mark_read(read).model_dump() == {"marked": 2, "unread": 4}
    assert alice.mark_read(read).model_dump() == {"marked": 0, "unread": 4}, "read already"
    unread = alice.notices(unread=True)
    assert [n.id for n in unread.items] == [n.id for n in everything[2:]] and unread.unread == 4
    assert [n.read for n in alice.notices().items] == [True, True, False, False, False, False]

    theirs = [n.id for n in everything]
    assert bob.mark_read(theirs).model_dump() == {"marked": 0, "unread": 0}, "others' ids are ignored"
    assert admin.mark_read(theirs).marked == 0, "an admin's too: they are hers"
    assert admin.notices().unread == 3 and alice.notices().unread == 4

    assert alice.mark_read(all=True).model_dump() == {"marked": 4, "unread": 0}
    assert alice.notices(unread=True).items == []
    assert admin.notices().unread == 3, "her reading is hers"
    token = alice.create_token("raw").token
    for body in ({}, {"ids": []}, {"ids": [1], "all": True}, {"ids": [0]}):
        answer = call(server.url, "POST", "/me/notices/read", token, json=body)
        assert answer.status_code == 422, (body, answer.text)
    with pytest.raises(ValueError, match="ids"):
        alice.mark_read()


def test_a_sweep_is_one_notice_to_its_owner_that_links_to_the_study(
    people: dict[str, Client],
    agent: HandAgent,
    spread: Spread,
    browser: Callable[[str], httpx.Client],
) -> None:
    alice, admin = people["alice"], people["admin"]
    made = alice.sweep("scan", SUCCEED | {"name": "point"}, product=[{"input": "kwargs", "values": [{}, {}]}])
    calcs = sorted(alice.list(study="scan"), key=lambda c: c.id)
    agent.run(calcs[0].id, "completed", exit_code=0)
    agent.run(calcs[1].id, "failed", exit_code=1, message="diverged")
    (told,) = spread.feed(alice, 1).items
    assert (told.kind, told.level) == ("study.finished", "error")
    assert (told.study_id, told.study_name) == (made.id, "scan")
    assert told.calculation_id is None and told.what == 'study "scan" finished with failures'
    assert [n.study_id for n in spread.feed(admin, 1).items] == [made.id]
    assert len(alice.notices().items) == 1, "none for each of its calculations"
    page = browser("alice").get("/notices").text
    assert f'<a href="/studies/{made.id}">study &#34;scan&#34; finished with failures</a>' in page


def test_the_cli_shows_the_feed_with_the_unread_marked_and_reads_all(
    people: dict[str, Client], agent: HandAgent, spread: Spread, server: ServerThread
) -> None:
    alice = people["alice"]
    broken = _failed(agent, alice, "relax", "diverged")
    spread.feed(alice, 2)
    token = alice.create_token("cli").token
    shown = cli(server.url, token, "inbox")
    assert f'calculation {broken} "relax" failed: diverged' in shown
    assert f'calculation {broken} "relax" is running' in shown
    assert shown.count("new") == 3 and "2 unread" in shown, shown  # the header's, and each row's
    alice.mark_read([alice.notices().items[1].id])
    listed = json.loads(cli(server.url, token, "inbox", "--unread", "--json"))
    assert [n["kind"] for n in listed["items"]] == ["calculation.failed"] and listed["unread"] == 1
    assert "1 marked read" in cli(server.url, token, "inbox", "--read-all")
    assert "no unread notices" in cli(server.url, token, "inbox", "--unread")
    assert "new" not in cli(server.url, token, "inbox").split("\n", 2)[2], "none marked new now"


def test_the_notices_page_links_each_and_the_badge_counts_until_all_are_marked_read(
    people: dict[str, Client],
    agent: HandAgent,
    spread: Spread,
    browser: Callable[..., httpx.Client],
    server: ServerThread,
) -> None:
    alice = people["alice"]
    broken = _failed(agent, alice, "relax <b>", "diverged & gone")
    spread.feed(alice, 2)
    me = browser("alice")
    page = me.get("/notices")
    assert page.status_code == 200
    html = page.text
    link = f'<a href="/calculations/{broken}">calculation {broken} &#34;relax &lt;b&gt;&#34; failed</a>'
    assert link in html and ": diverged &amp; gone" in html and "<b>" not in html
    assert html.count('class="inbox-notice inbox-unread"') == 2
    badge = '<span class="badge">2<span class="visually-hidden"> unread</span></span>'
    for path in ("/notices", "/", "/calculations", f"/calculations/{broken}", "/settings"):
        assert badge in me.get(path).text, path
    assert alice.notices().unread == 2, "looking marks nothing read"
    assert "Mark all read" in html

    done = me.post("/notices/read", follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, "/notices?done=read")
    after = me.get("/notices").text
    assert "inbox-unread" not in after and 'class="badge"' not in after and "Mark all read" not in after
    assert "Every notice is marked read." in me.get("/notices?done=read").text
    assert alice.notices().unread == 0

    bob = browser("bob").get("/notices").text
    assert "No notices yet" in bob and 'class="badge"' not in bob and 'href="/notices"' in bob
    signed_out = browser()
    assert 'href="/notices"' not in signed_out.get("/login").text
    away = signed_out.get("/notices", follow_redirects=False)
    assert (away.status_code, away.headers["location"]) == (303, "/login?next=/notices")
    assert signed_out.post("/notices/read", follow_redirects=False).status_code == 303


@pytest.mark.settings(run_models=False)
def test_a_failed_model_is_in_its_owner_s_feed_page_and_cli_linking_to_the_model(
    people: dict[str, Client],
    spread: Spread,
    hub: Hub,
    browser: Callable[[str], httpx.Client],
    server: ServerThread,
) -> None:
    alice = people["alice"]
    model_id = fail_model(hub, "alice", "~alice", name="lj-energy", version="2.1")
    (told,) = spread.feed(alice, 1).items
    assert (told.kind, told.level, told.message) == ("model.failed", "error", REASON)
    assert (told.model_id, told.model_name, told.model_version) == (model_id, "lj-energy", "2.1")
    assert told.calculation_id is None and told.study_id is None
    assert told.what == f"model lj-energy 2.1 failed: {REASON}"
    assert [n.model_id for n in spread.feed(people["admin"], 1).items] == [model_id], "an error"
    assert people["bob"].notices().items == []
    page = browser("alice").get("/notices").text
    assert '<a href="/models/lj-energy">model lj-energy 2.1 failed</a>' in page
    shown = cli(server.url, alice.create_token("cli").token, "inbox")
    assert "model lj-energy 2.1 failed" in shown and "1 unread" in shown, shown
    listed = json.loads(cli(server.url, alice.create_token("json").token, "inbox", "--json"))
    assert [(n["model_name"], n["model_version"]) for n in listed["items"]] == [("lj-energy", "2.1")]


@contextmanager
def _statements(hub: Hub) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements the server runs while the block does, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(hub.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(hub.engine, "before_cursor_execute", note)


def test_the_badge_costs_one_indexed_count_per_page_and_nothing_in_a_fragment(
    people: dict[str, Client],
    agent: HandAgent,
    spread: Spread,
    browser: Callable[[str], httpx.Client],
    hub: Hub,
) -> None:
    _failed(agent, people["alice"], "relax", "diverged")
    spread.feed(people["alice"], 2)
    me = browser("alice")
    with _statements(hub) as seen:
        assert me.get("/settings").status_code == 200
    counts = [(sql, params) for sql, params in seen if "deliveries" in sql]
    assert len(counts) == 1 and "count(" in counts[0][0].lower(), counts
    with _statements(hub) as seen:
        fragment = me.get("/calculations", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<nav" not in fragment.text
    assert not [sql for sql, _ in seen if "deliveries" in sql], "a fragment has no navigation"
    sql, params = counts[0]
    with hub.engine.connect() as db:
        if hub.engine.dialect.name == "sqlite":
            plan = " ".join(str(row) for row in db.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
            assert "SEARCH deliveries USING INDEX ix_deliveries_" in plan, plan
        else:
            db.exec_driver_sql("SET enable_seqscan = off")  # a table this small is read whole otherwise
            plan = " ".join(str(row) for row in db.exec_driver_sql("EXPLAIN " + sql, params))
            assert "Index" in plan and "ix_deliveries_" in plan and "Seq Scan" not in plan, plan
