"""Users, projects, approval and tokens: what the client and the CLI send, and what they print.

The server is an httpx.MockTransport that answers canned bodies and records each request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

import calchub.client
from calchub.cli.app import app
from calchub.client import Client, Forbidden, Throttled

WHEN = "2025-03-01T12:00:00Z"
QUOTAS = {"max_running": None, "max_queued": None, "core_hours": None, "quota_days": 30}


def user_json(username: str = "bob", **changes: Any) -> dict[str, Any]:
    found = {
        "id": 2,
        "username": username,
        "email": None,
        "role": "user",
        "blocked": False,
        "created_at": WHEN,
        "quotas": QUOTAS,
        "projects": [{"project": "beamtime", "role": "member"}],
    }
    return found | changes


def project_json(name: str = "beamtime", **changes: Any) -> dict[str, Any]:
    found = {
        "id": 3,
        "name": name,
        "description": "",
        "personal": False,
        "requires_approval": False,
        "priority_min": -100,
        "priority_max": 100,
        "quotas": QUOTAS,
        "created_at": WHEN,
        "my_role": None,
        "members": 1,
    }
    return found | changes


def calc_json(calc_id: int = 7, **changes: Any) -> dict[str, Any]:
    found = {
        "id": calc_id,
        "name": "scan",
        "owner": "bob",
        "cluster": "local",
        "state": "queued",
        "command": ["true"],
        "env": {},
        "outputs": [],
        "resources": {},
        "priority": 0,
        "attempt": 0,
        "max_attempts": 2,
        "created_at": WHEN,
        "updated_at": WHEN,
        "provenance": {},
        "project": "beamtime",
    }
    return found | changes


def token_json(token_id: int = 4, **changes: Any) -> dict[str, Any]:
    found = {
        "id": token_id,
        "name": "laptop",
        "prefix": "chu_abcdef",
        "scope": "full",
        "created_at": WHEN,
        "expires_at": None,
        "revoked_at": None,
    }
    return found | changes


@dataclass
class Sent:
    method: str
    path: str
    params: dict[str, list[str]]
    body: Any
    authorization: str | None


@dataclass
class FakeServer:
    """Answers ``(method, path)`` with what ``on`` was given; 404 for anything else."""

    answers: dict[tuple[str, str], httpx.Response] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)

    def on(self, method: str, path: str, body: Any = None, status: int = 200, **headers: str) -> None:
        if status == 204:
            self.answers[method, path] = httpx.Response(204)
        else:
            self.answers[method, path] = httpx.Response(status, json=body, headers=headers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode().split("?")[0].removeprefix("/api/v1")
        params: dict[str, list[str]] = {}
        for key, value in request.url.params.multi_items():
            params.setdefault(key, []).append(value)
        body = json.loads(request.content) if request.content else None
        self.sent.append(Sent(request.method, path, params, body, request.headers.get("authorization")))
        answer = self.answers.get((request.method, path))
        if answer is None:
            return httpx.Response(404, json={"detail": f"no route {request.method} {path} in this test"})
        return answer

    def calls(self) -> list[tuple[str, str]]:
        return [(s.method, s.path) for s in self.sent]

    def last(self) -> Sent:
        return self.sent[-1]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeServer]:
    """A fake server; every ``Client`` the CLI makes talks to it."""
    server = FakeServer()
    transport = httpx.MockTransport(server.handle)

    class Wired(Client):
        def __init__(self, url: str | None = None, token: str | None = None, **_: Any) -> None:
            super().__init__(url, token, transport=transport)

    monkeypatch.setattr(calchub.client, "Client", Wired)
    monkeypatch.setenv("CALCHUB_URL", "http://calchub.test")
    monkeypatch.setenv("CALCHUB_TOKEN", "chu_admin")
    monkeypatch.setenv("CALCHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    yield server


@pytest.fixture
def client(fake: FakeServer) -> Iterator[Client]:
    with calchub.client.Client() as wired:
        yield wired


def run(*args: str, input: str | None = None, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), input=input)
    assert result.exit_code == code, result.output
    return result.output


def rows(out: str) -> list[list[str]]:
    """The body rows of a printed table, cell by cell."""
    return [[cell.strip() for cell in line.split("│")] for line in out.splitlines() if "│" in line]


# -- the client -----------------------------------------------------------------------------------


def test_login_signs_in_then_issues_a_token_with_the_access_token(
    client: Client, fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "laptop")
    access = {"access_token": "eyJ.jwt", "expires_in": 900, "username": "bob", "role": "user"}
    fake.on("POST", "/auth/login", access)
    fake.on("POST", "/tokens", token_json(name="calchub login on laptop", token="chu_new"), status=201)
    fake.on("POST", "/auth/logout", status=204)
    fake.on("GET", "/me", {"id": 2, "username": "bob", "role": "user"})
    issued = client.login("bob", "s3cret-enough", days=7)
    assert issued.token == "chu_new"
    first, second, third = fake.sent
    assert (third.method, third.path) == ("POST", "/auth/logout"), "the sign-in session is ended at once"
    assert (first.method, first.path, first.body) == (
        "POST",
        "/auth/login",
        {"username": "bob", "password": "s3cret-enough"},
    )
    assert (second.method, second.path, second.authorization) == ("POST", "/tokens", "Bearer eyJ.jwt")
    assert second.body == {"name": "calchub login on laptop", "days": 7, "scope": "full"}
    assert client.me().username == "bob"
    assert fake.last().authorization == "Bearer chu_new", "after login the client uses the issued token"


def test_sign_in_only_signs_in(client: Client, fake: FakeServer) -> None:
    access = {"access_token": "eyJ.jwt", "expires_in": 900, "username": "bob", "role": "moderator"}
    fake.on("POST", "/auth/login", access)
    assert client.sign_in("bob", "pw").role == "moderator"
    assert fake.calls() == [("POST", "/auth/login")]
    fake.on("GET", "/tokens", [])
    client.tokens()
    assert fake.last().authorization == "Bearer chu_admin"


def test_a_throttled_sign_in_says_when_to_try_again(client: Client, fake: FakeServer) -> None:
    detail = {"detail": "too many failed sign-ins for bob: try again in 42 s"}
    fake.on("POST", "/auth/login", detail, status=429, **{"Retry-After": "42"})
    with pytest.raises(Throttled, match="try again in 42 s") as raised:
        client.sign_in("bob", "pw")
    assert (raised.value.status, raised.value.retry_after) == (429, 42)
    out = run("login", "http://calchub.test", "--username", "bob", "--password", "pw", code=1)
    assert "error: too many failed sign-ins for bob: try again in 42 s (HTTP 429)" in out


def test_user_updates_send_only_what_is_given(client: Client, fake: FakeServer) -> None:
    from calchub.contracts.users import Quotas

    fake.on("PATCH", "/users/bob", user_json(role="moderator"))
    assert client.update_user("bob", role="moderator").role == "moderator"
    assert fake.last().body == {"role": "moderator"}
    client.update_user("bob", quotas=Quotas(max_running=4))
    assert fake.last().body == {"quotas": QUOTAS | {"max_running": 4}}, "None in quotas means no limit"


def test_names_are_one_path_segment(client: Client, fake: FakeServer) -> None:
    with pytest.raises(calchub.client.NotFound):
        client.user("../clusters")
    assert fake.last().path == "/users/..%2Fclusters"
    fake.on("GET", "/projects/~bob", project_json("~bob", personal=True))
    assert client.project("~bob").personal


def test_calculation_updates_reviews_and_favorites(client: Client, fake: FakeServer) -> None:
    fake.on("PATCH", "/calculations/7", calc_json(priority=5))
    fake.on("POST", "/calculations/7/approve", calc_json())
    fake.on("POST", "/calculations/7/reject", calc_json(state="rejected", message="too big"))
    fake.on("PUT", "/calculations/7/favorite", status=204)
    fake.on("DELETE", "/calculations/7/favorite", status=204)
    assert client.update(7, priority=5).priority == 5
    assert fake.last().body == {"priority": 5}
    client.approve(7)
    assert fake.last().body == {"comment": None}
    assert client.reject(7, "too big").state == "rejected"
    assert fake.last().body == {"comment": "too big"}
    client.favorite(7)
    client.unfavorite(7)
    assert fake.calls()[-2:] == [("PUT", "/calculations/7/favorite"), ("DELETE", "/calculations/7/favorite")]


def test_bad_requests_are_refused_before_anything_is_sent(client: Client, fake: FakeServer) -> None:
    with pytest.raises(ValidationError, match="comment"):
        client.reject(7, "")
    with pytest.raises(ValidationError, match="password"):
        client.create_user("bob", password="short")
    with pytest.raises(ValidationError, match="priority_min must not be above priority_max"):
        client.create_project("p", priority_min=5, priority_max=1)
    assert fake.sent == []


def test_projects_members_and_usage(client: Client, fake: FakeServer) -> None:
    fake.on("POST", "/projects", project_json(requires_approval=True), status=201)
    fake.on("PATCH", "/projects/beamtime", project_json(description="x"))
    fake.on("PUT", "/projects/beamtime/members/bob", {"username": "bob", "role": "manager", "added_at": WHEN})
    fake.on("DELETE", "/projects/beamtime/members/bob", status=204)
    assert client.create_project("beamtime", requires_approval=True).requires_approval
    assert fake.last().body == {
        "name": "beamtime",
        "description": "",
        "requires_approval": True,
        "priority_min": -100,
        "priority_max": 100,
        "quotas": QUOTAS,
        "managers": [],
    }
    client.update_project("beamtime", description="x")
    assert fake.last().body == {"description": "x"}
    assert client.add_member("beamtime", "bob", "manager").role == "manager"
    assert fake.last().body == {"role": "manager"}
    client.remove_member("beamtime", "bob")
    assert fake.last().method == "DELETE"


def test_rotate_key_names_the_grace_time(client: Client, fake: FakeServer) -> None:
    fake.on(
        "POST", "/clusters/hpc/keys/3/rotate", {"id": 9, "prefix": "cha_x", "created_at": WHEN, "key": "k"}
    )
    assert client.rotate_key("hpc", 3, grace_minutes=15).key == "k"
    assert fake.last().params == {"grace_minutes": ["15"]}


# -- the CLI: users --------------------------------------------------------------------------------


def test_user_add_reads_the_password_from_stdin(fake: FakeServer) -> None:
    fake.on("POST", "/users", user_json(email="bob@lab.org", projects=[]), status=201)
    out = run(
        "user", "add", "bob", "--email", "bob@lab.org", "-p", "beamtime", "-p", "ms", "--password-stdin",
        input="s3cret-enough\n",
    )  # fmt: skip
    assert fake.last().body == {
        "username": "bob",
        "password": "s3cret-enough",
        "email": "bob@lab.org",
        "role": "user",
        "projects": ["beamtime", "ms"],
    }
    assert "added user bob" in out


def test_user_add_asks_for_the_password_twice(fake: FakeServer) -> None:
    fake.on("POST", "/users", user_json("mod", role="moderator"), status=201)
    run("user", "add", "mod", "--role", "moderator", input="s3cret-enough\ns3cret-enough\n")
    assert fake.last().body["password"] == "s3cret-enough"
    assert fake.last().body["role"] == "moderator"


def test_user_add_without_a_password_says_how_to_set_one(fake: FakeServer) -> None:
    fake.on("POST", "/users", user_json(), status=201)
    out = run("user", "add", "bob", "--no-password")
    assert fake.last().body["password"] is None
    assert "calchub user passwd bob" in out


def test_a_short_password_is_refused_with_the_rule(fake: FakeServer) -> None:
    out = run("user", "add", "bob", "--password-stdin", input="short\n", code=1)
    assert "password: String should have at least 8 characters" in out
    assert fake.sent == []
    assert "standard input held no password" in run("user", "passwd", "bob", "--password-stdin", code=1)


def test_user_ls_and_show(fake: FakeServer) -> None:
    fake.on("GET", "/users", [user_json(), user_json("eve", role="moderator", blocked=True, projects=[])])
    out = run("user", "ls")
    assert "bob" in out and "beamtime" in out
    assert "eve" in out and "moderator" in out and "blocked" in out
    assert [u["username"] for u in json.loads(run("user", "ls", "--json"))] == ["bob", "eve"]
    fake.on("GET", "/users/bob", user_json(quotas=QUOTAS | {"max_running": 4, "core_hours": 100.0}))
    shown = run("user", "show", "bob")
    assert "max running 4, max queued none, 100 core-hours per 30 days" in shown
    assert "beamtime" in shown and "member" in shown


def test_user_quota_changes_the_limits_named_and_keeps_the_rest(fake: FakeServer) -> None:
    fake.on("GET", "/users/bob", user_json(quotas=QUOTAS | {"max_running": 4, "core_hours": 100.0}))
    fake.on("PATCH", "/users/bob", user_json(quotas=QUOTAS | {"max_running": 4, "max_queued": 50}))
    out = run("user", "quota", "bob", "--max-queued", "50", "--unlimited", "core-hours")
    assert fake.last().body == {"quotas": QUOTAS | {"max_running": 4, "max_queued": 50}}
    assert "bob: max running 4, max queued 50, no core-hour limit" in out
    assert "name a limit to change" in run("user", "quota", "bob", code=1)


def test_user_role_block_passwd_rm_and_sessions(fake: FakeServer) -> None:
    fake.on("PATCH", "/users/bob", user_json(role="moderator"))
    fake.on("POST", "/users/bob/block", user_json(blocked=True))
    fake.on("POST", "/users/bob/unblock", user_json())
    fake.on("PUT", "/users/bob/password", status=204)
    fake.on("DELETE", "/users/bob", status=204)
    fake.on("POST", "/users/bob/sessions/revoke", {"revoked": 2})
    fake.on("POST", "/auth/sessions/revoke-all", {"revoked": 9})
    assert "bob is now moderator" in run("user", "role", "bob", "moderator")
    assert fake.last().body == {"role": "moderator"}
    assert "invalid" in run("user", "role", "bob", "boss", code=2).lower()
    assert "blocked bob" in run("user", "block", "bob")
    assert "unblocked bob" in run("user", "unblock", "bob")
    run("user", "passwd", "bob", input="n3w-password\nn3w-password\n")
    assert fake.last().body == {"password": "n3w-password"}
    run("user", "rm", "bob", input="n\n", code=1)
    assert fake.last().method != "DELETE", "saying no deletes nothing"
    assert "deleted bob" in run("user", "rm", "bob", input="y\n")
    assert "ended 2 session(s) of bob" in run("user", "revoke-sessions", "bob")
    assert "ended 9 session(s) of everyone" in run("user", "revoke-sessions", "--all")
    assert "give a USERNAME or --all" in run("user", "revoke-sessions", code=1)


def test_passwd_changes_your_own_password(fake: FakeServer) -> None:
    fake.on("POST", "/me/password", status=204)
    out = run("passwd", input="old-password\nn3w-password\nn3w-password\n")
    assert fake.last().body == {"current": "old-password", "password": "n3w-password"}
    assert "password changed" in out


def test_refusals_are_one_line_that_says_why(fake: FakeServer) -> None:
    fake.on("GET", "/users", {"detail": "moderators and admins may list users"}, status=403)
    out = run("user", "ls", code=1)
    assert "error: moderators and admins may list users (HTTP 403)" in out


# -- the CLI: projects -----------------------------------------------------------------------------


def test_project_add_sends_every_option(fake: FakeServer) -> None:
    fake.on("POST", "/projects", project_json("ms"), status=201)
    out = run(
        "project", "add", "ms", "--description", "mass spec", "--approval", "--priority-range", "-10:50",
        "--max-running", "8", "--core-hours", "5000", "--days", "90", "--manager", "eve",
    )  # fmt: skip
    assert fake.last().body == {
        "name": "ms",
        "description": "mass spec",
        "requires_approval": True,
        "priority_min": -10,
        "priority_max": 50,
        "quotas": {"max_running": 8, "max_queued": None, "core_hours": 5000.0, "quota_days": 90},
        "managers": ["eve"],
    }
    assert "created project ms" in out
    assert "must look like MIN:MAX" in run("project", "add", "ms", "--priority-range", "10", code=1)


def test_project_set_changes_only_what_is_named(fake: FakeServer) -> None:
    fake.on("GET", "/projects/ms", project_json("ms", quotas=QUOTAS | {"core_hours": 5000.0}))
    fake.on("PATCH", "/projects/ms", project_json("ms", quotas=QUOTAS | {"max_running": 3}))
    run("project", "set", "ms", "--no-approval")
    assert fake.calls() == [("PATCH", "/projects/ms")]
    assert fake.last().body == {"requires_approval": False}
    out = run("project", "set", "ms", "--max-running", "3", "--unlimited", "core-hours")
    assert fake.last().body == {"quotas": QUOTAS | {"max_running": 3}}
    assert "max running 3" in out
    assert "name something to change" in run("project", "set", "ms", code=1)


def test_project_ls_show_members_and_rm(fake: FakeServer) -> None:
    fake.on("GET", "/projects", [project_json(my_role="manager", requires_approval=True)])
    fake.on("GET", "/projects/beamtime", project_json(description="neutrons, cycle 3"))
    fake.on("GET", "/projects/beamtime/members", [{"username": "bob", "role": "manager", "added_at": WHEN}])
    fake.on("PUT", "/projects/beamtime/members/amy", {"username": "amy", "role": "member", "added_at": WHEN})
    fake.on("DELETE", "/projects/beamtime/members/amy", status=204)
    fake.on("DELETE", "/projects/beamtime", status=204)
    listed = run("project", "ls")
    assert "beamtime" in listed and "manager" in listed and "-100:100" in listed
    assert "neutrons, cycle 3" in run("project", "show", "beamtime")
    assert "bob" in run("project", "members", "beamtime")
    assert "amy is a member of beamtime" in run("project", "add-member", "beamtime", "amy")
    assert fake.last().body == {"role": "member"}
    assert "removed amy from beamtime" in run("project", "rm-member", "beamtime", "amy")
    assert "deleted project beamtime" in run("project", "rm", "beamtime", "--yes")


def test_project_usage_shows_used_limit_and_left(fake: FakeServer) -> None:
    quotas = [
        {"quota": "max_running", "used": 2, "limit": 4, "left": 2},
        {"quota": "max_queued", "used": 5, "limit": None, "left": None},
        {"quota": "core_hours", "used": 12.5, "limit": 100.0, "left": 87.5},
    ]
    body = {"project": "ms", "running": 2, "queued": 5, "core_hours": 12.5, "since": WHEN, "quotas": quotas}
    fake.on("GET", "/projects/ms/usage", body)
    out = run("project", "usage", "ms")
    assert rows(out) == [
        ["max running", "2", "4", "2"],
        ["max queued", "5", "none", "-"],
        ["core hours", "12.5", "100", "87.5"],
    ]
    assert "2 running, 5 waiting, 12.50 core-hours used" in out
    assert json.loads(run("project", "usage", "ms", "--json"))["quotas"] == quotas


# -- the CLI: calculations, tokens, clusters, login ---------------------------------------------------


def test_approve_reject_set_and_favorites(fake: FakeServer) -> None:
    fake.on("POST", "/calculations/7/approve", calc_json())
    fake.on("POST", "/calculations/8/approve", calc_json(8))
    fake.on("POST", "/calculations/7/reject", calc_json(state="rejected", message="rejected: too big"))
    fake.on("PATCH", "/calculations/7", calc_json(priority=10, name="scan2"))
    fake.on("PUT", "/calculations/7/favorite", status=204)
    fake.on("DELETE", "/calculations/7/favorite", status=204)
    out = run("approve", "7", "8", "--comment", "fine")
    assert fake.calls() == [("POST", "/calculations/7/approve"), ("POST", "/calculations/8/approve")]
    assert fake.last().body == {"comment": "fine"}
    assert "approved 7 (scan): queued" in out and "approved 8" in out
    assert "rejected 7 (scan): rejected: too big" in run("reject", "7", "--comment", "too big")
    assert fake.last().body == {"comment": "too big"}
    assert "Missing option '--comment'" in run("reject", "7", code=2)
    assert "7 (scan2): priority 10" in run("set", "7", "--priority", "10", "--name", "scan2")
    assert fake.last().body == {"name": "scan2", "priority": 10}
    assert "give --priority N or --name NAME" in run("set", "7", code=1)
    assert "7 is a favorite" in run("fav", "7")
    assert "7 is no longer a favorite" in run("unfav", "7")
    assert fake.calls()[-2:] == [("PUT", "/calculations/7/favorite"), ("DELETE", "/calculations/7/favorite")]


def test_ls_filters_by_project_and_favorites(fake: FakeServer) -> None:
    fake.on("GET", "/calculations", {"items": [calc_json(favorite=True)], "next_cursor": None})
    out = run("ls", "--project", "beamtime", "--favorites")
    params = fake.last().params
    assert (params["project"], params["favorite"]) == (["beamtime"], ["true"])
    assert "scan" in out and "beamtime" in out
    run("ls")
    assert "favorite" not in fake.last().params and "project" not in fake.last().params


def test_ls_filters_by_type_and_submission_time(fake: FakeServer) -> None:
    fake.on("GET", "/calculations", {"items": [], "next_cursor": None})
    run("ls", "--type", "bumps", "--since", "2026-06-01", "--before", "2026-06-02 12:30")
    params = fake.last().params
    assert params["type"] == ["bumps"]
    # Typed without a zone is this machine's local time, sent with its offset.
    assert params["submitted_from"] == [datetime(2026, 6, 1).astimezone().isoformat()]
    assert params["submitted_before"] == [datetime(2026, 6, 2, 12, 30).astimezone().isoformat()]
    assert datetime.fromisoformat(params["submitted_from"][0]).tzinfo is not None
    assert "Invalid value for '--since'" in run("ls", "--since", "June", code=2)


def test_submit_names_its_project(fake: FakeServer) -> None:
    fake.on("POST", "/calculations", calc_json(project="~bob"), status=201)
    run("submit", "--project", "~bob", "--", "true")
    assert fake.last().body["project"] == "~bob"


def test_tokens_show_their_scope(fake: FakeServer) -> None:
    fake.on("POST", "/tokens", token_json(name="ci", scope="read", token="chu_secret"), status=201)
    fake.on("GET", "/tokens", [token_json(), token_json(5, name="ci", scope="read")])
    fake.on("DELETE", "/tokens/5", token_json(5, revoked_at=WHEN))
    out = run("token", "create", "ci", "--days", "5", "--read-only")
    assert fake.last().body == {"name": "ci", "days": 5, "scope": "read"}
    assert "read token 4 (ci), shown once:\nchu_secret" in out
    run("token", "create", "laptop")
    assert fake.last().body == {"name": "laptop", "days": None, "scope": "full"}
    assert [row[:4] for row in rows(run("token", "ls"))] == [
        ["4", "laptop", "chu_abcdef...", "full"],
        ["5", "ci", "chu_abcdef...", "read"],
    ]
    assert "revoked token 5" in run("token", "revoke", "5")


def test_rotate_key_prints_the_new_key_and_when_the_old_stops(fake: FakeServer) -> None:
    fake.on(
        "POST",
        "/clusters/hpc/keys/3/rotate",
        {"id": 9, "prefix": "cha_x", "created_at": WHEN, "key": "cha_new"},
    )
    out = run("cluster", "rotate-key", "hpc", "3", "--grace-minutes", "30")
    assert fake.last().params == {"grace_minutes": ["30"]}
    assert "replaces key 3, which keeps working for 30 minute(s)" in out
    assert "cha_new" in out
    assert "stops working now" in run("cluster", "rotate-key", "hpc", "3")
    assert fake.last().params == {"grace_minutes": ["0"]}


def test_login_saves_the_issued_token(fake: FakeServer, tmp_path: Path) -> None:
    access = {"access_token": "eyJ.jwt", "expires_in": 900, "username": "bob", "role": "user"}
    fake.on("POST", "/auth/login", access)
    fake.on("POST", "/tokens", token_json(token="chu_saved", expires_at="2025-04-01T12:00:00Z"), status=201)
    fake.on("POST", "/auth/logout", status=204)
    out = run("login", "http://calchub.test", "--username", "bob", input="s3cret-enough\n")
    assert fake.calls() == [("POST", "/auth/login"), ("POST", "/tokens"), ("POST", "/auth/logout")]
    assert fake.sent[1].body["days"] == 30
    saved = json.loads((tmp_path / "home" / "client.json").read_text())
    assert saved == {"url": "http://calchub.test", "token": "chu_saved", "username": "bob"}
    assert "logged in to http://calchub.test as bob" in out


def test_a_wrong_password_saves_nothing(fake: FakeServer, tmp_path: Path) -> None:
    fake.on("POST", "/auth/login", {"detail": "wrong username or password"}, status=401)
    out = run("login", "http://calchub.test", "--username", "bob", "--password", "nope", code=1)
    assert "wrong username or password (HTTP 401)" in out
    assert not (tmp_path / "home" / "client.json").exists()


def test_a_read_only_refusal_reaches_the_user(client: Client, fake: FakeServer) -> None:
    fake.on("POST", "/calculations", {"detail": "this token may only read"}, status=403)
    with pytest.raises(Forbidden, match="may only read"):
        client.submit(["true"])


def test_each_command_closes_its_client(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []
    monkeypatch.setattr(calchub.client.Client, "close", lambda self: closed.append("closed"))
    fake.on("GET", "/users", [])
    run("user", "ls")
    run("project", "ls", code=1)
    assert closed == ["closed", "closed"], "a refusal closes the client too"


def test_me_shows_and_changes_where_and_how_much_you_are_told(fake: FakeServer) -> None:
    me = {"id": 2, "username": "bob", "role": "user", "email": None, "notify": "error"}
    me["projects"] = [{"project": "optics", "role": "member"}]
    fake.on("GET", "/me", me)
    out = run("me")
    assert "bob: user, full token" in out and "email: none" in out
    assert "notifications: error" in out and "projects: optics (member)" in out
    assert fake.calls()[-1] == ("GET", "/me")

    fake.on("PATCH", "/me", me | {"email": "bob@lab.org", "notify": "info"})
    assert "notifications: info" in run("me", "--email", "bob@lab.org", "--notify", "info")
    assert fake.last().body == {"email": "bob@lab.org", "notify": "info"}
    run("me", "--no-email")
    assert fake.last().body == {"email": None}, "removing the address sends null"
    assert json.loads(run("me", "--notify", "none", "--json"))["notify"] == "info"

    calls = len(fake.calls())
    assert "--notify is one of info, error, none, not 'loud'" in run("me", "--notify", "loud", code=1)
    assert "not both" in run("me", "--email", "a@b", "--no-email", code=1)
    assert len(fake.calls()) == calls, "nothing is sent after a bad option"
