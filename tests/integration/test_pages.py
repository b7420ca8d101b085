"""The web pages over real HTTP: signing in, what each viewer sees, and the buttons they get."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from calchub.agent.loop import Agent
from calchub.agent.settings import AgentSettings
from calchub.client import Client
from calchub.testing import FakeExecutor, ServerThread
from tests.integration.helpers import PAGE_PASSWORD, running

PASSWORD = PAGE_PASSWORD


@pytest.fixture
def people(make_user: Callable[..., Client], client: Client) -> dict[str, Client]:
    client.create_project("optics", requires_approval=True)
    found = {name: make_user(name, password=PASSWORD) for name in ("alice", "bob")}
    found["mo"] = make_user("mo", password=PASSWORD, role="moderator")
    found["eve"] = make_user("eve", password=PASSWORD)
    for name in ("alice", "bob"):
        client.add_member("optics", name)
    return found


def test_a_page_without_a_session_sends_the_browser_to_sign_in_and_back(
    server: ServerThread, people: dict[str, Client]
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        answer = http.get("/calculations?state=queued")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=/calculations?state=queued"
        form = http.get(answer.headers["location"]).text
        assert 'name="next" value="/calculations?state=queued"' in form
        assert '<label for="username">' in form and '<label for="password">' in form
        signed = http.post(
            "/login", data={"username": "alice", "password": PASSWORD, "next": "/calculations?state=queued"}
        )
        assert (signed.status_code, signed.headers["location"]) == (303, "/calculations?state=queued")
        cookies = signed.headers.get_list("set-cookie")
        assert all("HttpOnly" in c and "SameSite=strict" in c for c in cookies)
        assert http.get("/calculations?state=queued").status_code == 200


def test_an_api_token_or_agent_key_in_the_cookie_is_no_page_session(
    server: ServerThread, people: dict[str, Client], made: Any
) -> None:
    """Pages act only for a sign-in session: a read-only token would otherwise post forms."""
    alice = people["alice"]
    mine = alice.submit(["true"], name="kept")
    read_only = alice.create_token("look", scope="read").token
    full = alice.create_token("script").token
    for secret in (read_only, full, made.agent_key):
        with httpx.Client(base_url=server.url, timeout=10, cookies={"calchub_access": secret}) as http:
            assert http.get("/calculations").status_code == 303, "sent to sign in"
            cancel = http.post(f"/calculations/{mine.id}/cancel")
            assert cancel.status_code == 303 and cancel.headers["location"].startswith("/login?next=")
    assert alice.get(mine.id).state.value != "cancelled"


def test_a_wrong_password_is_said_on_the_page_and_a_foreign_next_is_ignored(
    server: ServerThread, people: dict[str, Client]
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        wrong = http.post("/login", data={"username": "alice", "password": "nope", "next": "/"})
        assert wrong.status_code == 401 and "wrong username or password" in wrong.text
        away = http.post(
            "/login", data={"username": "alice", "password": PASSWORD, "next": "//evil.example/"}
        )
        assert away.headers["location"] == "/"


def test_the_dashboard_counts_only_what_the_viewer_may_see(
    browser: Callable[[str], httpx.Client], people: dict[str, Client]
) -> None:
    people["alice"].submit(["true"], project="optics")
    people["eve"].submit(["true"])
    page = browser("alice").get("/").text
    assert "Dashboard" in page and "local" in page, "the cluster table"
    assert '<strong>1</strong> <span class="state state-pending_approval">' in page
    assert '<strong>0</strong> <span class="state state-queued">' in page, "eve's is not counted"


def test_members_see_their_projects_work_and_others_are_told_it_does_not_exist(
    browser: Callable[[str], httpx.Client], people: dict[str, Client]
) -> None:
    calc = people["alice"].submit(["echo", "<script>x</script>"], project="optics", name="a<b>c")
    listing = browser("bob").get("/calculations?project=optics").text
    assert f'href="/calculations/{calc.id}"' in listing and "a&lt;b&gt;c" in listing, "names are escaped"
    eve = browser("eve")
    assert f'href="/calculations/{calc.id}"' not in eve.get("/calculations").text
    for path in (f"/calculations/{calc.id}", f"/calculations/{calc.id}/archive"):
        refused = eve.get(path)
        assert refused.status_code == 404 and f"no calculation {calc.id}" in refused.text
    assert eve.post(f"/calculations/{calc.id}/cancel").status_code == 404


def test_a_page_shows_only_the_buttons_its_viewer_may_press(
    browser: Callable[[str], httpx.Client], people: dict[str, Client]
) -> None:
    calc = people["alice"].submit(["true"], project="optics")
    alices, bobs, mos = (browser(n).get(f"/calculations/{calc.id}").text for n in ("alice", "bob", "mo"))
    assert "Cancel</button>" in alices and "Approve</button>" not in alices
    assert "Cancel</button>" not in bobs and "Approve</button>" not in bobs, "bob is a member, not the owner"
    assert "Approve</button>" in mos and '<label for="reject-comment">' in mos
    moderator = browser("mo")
    assert moderator.post(f"/calculations/{calc.id}/approve").status_code == 303
    assert people["alice"].get(calc.id).state == "queued"
    assert "Approve</button>" not in moderator.get(f"/calculations/{calc.id}").text


def test_filters_answer_htmx_with_the_table_alone(
    browser: Callable[[str], httpx.Client], people: dict[str, Client]
) -> None:
    first = people["alice"].submit(["true"], name="first")
    people["alice"].submit(["true"], name="second")
    alice = browser("alice")
    fragment = alice.get("/calculations?name=fir*", headers={"HX-Request": "true"}).text
    assert "<html" not in fragment and "<table" in fragment
    assert f'href="/calculations/{first.id}"' in fragment and "second" not in fragment
    bad = alice.get("/calculations?project=nowhere").text
    assert "no project named &#39;nowhere&#39;" in bad


def test_a_finished_run_shows_its_log_files_and_zip_and_its_stream_ends(
    browser: Callable[[str], httpx.Client],
    people: dict[str, Client],
    server: ServerThread,
    made: Any,
    tmp_path: Path,
) -> None:
    settings = AgentSettings(url=server.url, key=made.agent_key, root=tmp_path / "agent", name="a", cores=1)

    async def run() -> int:
        executor = FakeExecutor()
        async with running(Agent(settings, executor=executor)):
            calc = await asyncio.to_thread(people["eve"].submit, ["simulate"], outputs=["*.txt"])
            job = await asyncio.wait_for(executor.started.get(), 10)
            (job.job.workdir / "out.txt").write_text("42\n")
            job.finish(0, b"step <1>\n")
            await asyncio.to_thread(people["eve"].wait, calc.id, 10)
        return calc.id

    calc_id = asyncio.run(run())
    eve = browser("eve")
    page = eve.get(f"/calculations/{calc_id}").text
    assert "step &lt;1&gt;" in page and "sse-connect" not in page, "a finished run needs no live tail"
    assert eve.get(f"/calculations/{calc_id}/files/out.txt").content == b"42\n"
    assert eve.get(f"/calculations/{calc_id}/archive").headers["content-type"] == "application/zip"
    stream = eve.get(f"/calculations/{calc_id}/log/stream")
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.text.endswith("event: end\ndata: completed\n\n")
    assert 'event: state\ndata: <span class="state state-completed">completed</span>' in stream.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/calculations/{id}/log/stream", 200),  # a live part reconnecting
        ("GET", "/logs/stream?after_id=2147483647", 200),
        ("POST", "/calculations/{id}/retry", 409),  # an error page
        ("GET", "/calculations/999999", 404),
        ("GET", "/logs?before_id=0", 422),  # FastAPI's own answer to a bad parameter
        ("GET", "/calculations?submitted_from=0001-01-01", 200),
    ],
    ids=["log-stream", "feed-stream", "refused-button", "not-found", "bad-parameter", "first-day"],
)
def test_a_renewed_session_reaches_the_browser_whatever_the_answer(
    browser: Callable[[str], httpx.Client],
    people: dict[str, Client],
    server: ServerThread,
    method: str,
    path: str,
    status: int,
) -> None:
    """The refresh token is used up by renewing: an answer without its successor would end the
    session at the browser's next request (no grace here for a second use, so that shows)."""
    hub = server.app.state.hub
    hub.lifetimes = dataclasses.replace(hub.lifetimes, reuse=timedelta(0))
    calc = people["alice"].submit(["true"])
    people["alice"].cancel(calc.id)
    people["alice"].retry(calc.id)  # queued again: a retry now is refused (409)
    alice = browser("alice")
    alice.cookies.delete("calchub_access")  # as when it has expired
    with alice.stream(method, path.format(id=calc.id)) as answer:
        assert answer.status_code == status
        set_cookies = answer.headers.get_list("set-cookie")
        if "stream" in path:
            answer.close()  # a live stream goes on; its headers are what counts here
    assert {c.split("=")[0] for c in set_cookies} == {"calchub_access", "calchub_session"}
    assert alice.get("/").status_code == 200, "still signed in"


def test_a_blocked_viewer_is_sent_to_sign_in(
    browser: Callable[[str], httpx.Client], people: dict[str, Client], client: Client
) -> None:
    alice = browser("alice")
    assert alice.get("/").status_code == 200
    client.block_user("alice")
    answer = alice.get("/")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_an_expired_access_cookie_is_renewed_from_the_session(
    browser: Callable[[str], httpx.Client], people: dict[str, Client]
) -> None:
    alice = browser("alice")
    old_session = alice.cookies["calchub_session"]
    alice.cookies.delete("calchub_access")  # as the browser does once its max-age is over
    answer = alice.get("/")
    assert answer.status_code == 200
    assert alice.cookies["calchub_session"] != old_session, "the refresh token was rotated"
    assert alice.cookies["calchub_access"], "and a new access token set"


def test_the_new_calculation_form_comes_from_the_type_and_shows_problems_by_their_field(
    browser: Callable[[str], httpx.Client], people: dict[str, Client]
) -> None:
    alice = browser("alice")
    form = alice.get("/calculations/new?type=bumps").text
    for field in ("in-fit", "in-seed", "in-keep_chains"):
        assert f'<label for="{field}">' in form and f'id="{field}"' in form, field
    assert 'name="upload:model.py"' in form and "~alice" in form and "optics" in form
    bad = {"type": "bumps", "inputs.seed": "-3", "cluster": "local", "project": "~alice"}
    refused = alice.post("/calculations/new", data=bad, files={"upload:model.py": ("m.py", b"problem = 1\n")})
    assert refused.status_code == 422
    assert "-3 is less than the minimum of 0" in refused.text
    assert people["alice"].list() == [], "nothing was created"
    good = {"type": "shell", "inputs.script": "echo from-the-form", "cluster": "local", "project": "optics"}
    made = alice.post("/calculations/new", data=good)
    assert made.status_code == 303
    (calc,) = people["alice"].list()
    assert made.headers["location"] == f"/calculations/{calc.id}"
    assert (calc.type, calc.project, calc.state) == ("shell", "optics", "pending_approval")
