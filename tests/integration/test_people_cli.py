"""Users, projects, approval, favorites and read-only tokens: the client and the CLI on a real server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from calchub.cli.app import app
from calchub.client import BadRequest, Client, Forbidden, NotFound
from calchub.testing import ServerThread

PASSWORD = "s3cret-enough"


def cli(server: ServerThread, token: str, *args: str, input: str | None = None, code: int = 0) -> str:
    """Run `calchub ARGS...` against the server with ``token``; return what it printed."""
    env = {"CALCHUB_URL": server.url, "CALCHUB_TOKEN": token, "COLUMNS": "200"}
    result = CliRunner().invoke(app, list(args), input=input, env=env)
    assert result.exit_code == code, result.output
    return result.output


def token_of(client: Client) -> str:
    """A fresh token of the client's user, for the CLI."""
    return client.create_token("cli").token


@pytest.fixture
def amy(client: Client, server: ServerThread) -> Iterator[Client]:
    """A user the admin made through the API, in project `beamtime`, signed in with her password."""
    client.create_user("amy", password=PASSWORD, email="amy@lab.org")
    client.create_project("beamtime", description="neutrons, cycle 3")
    client.add_member("beamtime", "amy")
    with Client(server.url, "chu_placeholder") as signed_in:
        signed_in.login("amy", PASSWORD, days=1)
        yield signed_in


def test_an_admin_adds_a_user_to_a_project_and_she_submits_into_it(client: Client, amy: Client) -> None:
    me = amy.me()
    assert (me.username, me.role, me.scope) == ("amy", "user", "full")
    assert "beamtime" in {m.project for m in me.projects}
    assert [(m.username, m.role) for m in client.members("beamtime")] == [("amy", "member")]
    assert client.user("amy").email == "amy@lab.org"
    calc = amy.submit(["true"], project="beamtime")
    assert (calc.project, calc.state) == ("beamtime", "queued")
    assert [c.id for c in amy.list(project="beamtime")] == [calc.id]
    assert amy.usage("beamtime").queued == 1
    with pytest.raises(NotFound, match="project ls"):
        amy.submit(["true"], project="elsewhere")


def test_a_moderator_approves_in_a_project_that_requires_approval(
    client: Client, amy: Client, make_user: Callable[..., Client]
) -> None:
    moderator = make_user("mo", role="moderator")
    client.update_project("beamtime", requires_approval=True)
    calc = amy.submit(["true"], project="beamtime")
    assert calc.state == "pending_approval"
    with pytest.raises(Forbidden):
        amy.approve(calc.id)
    approved = moderator.approve(calc.id, "fine")
    assert approved.state == "queued"
    assert "fine" in (amy.events(calc.id)[-1].message or ""), "the approval's comment is in the timeline"


def test_a_rejection_shows_its_comment(
    client: Client, amy: Client, make_user: Callable[..., Client], server: ServerThread
) -> None:
    moderator = make_user("mo", role="moderator")
    client.update_project("beamtime", requires_approval=True)
    calc = amy.submit(["true"], project="beamtime")
    out = cli(server, token_of(moderator), "reject", str(calc.id), "--comment", "ask for fewer cores")
    assert "ask for fewer cores" in out
    seen = amy.get(calc.id)
    assert seen.state == "rejected"
    assert "ask for fewer cores" in (seen.message or "")
    shown = cli(server, token_of(amy), "show", str(calc.id))
    assert "rejected" in shown and "ask for fewer cores" in shown


def test_favorites_filter_the_list(amy: Client, server: ServerThread) -> None:
    first, second = (amy.submit(["true"], project="beamtime") for _ in range(2))
    token = token_of(amy)
    cli(server, token, "fav", str(second.id))
    assert [c.id for c in amy.list(favorite=True)] == [second.id]
    assert amy.get(second.id).favorite
    listed = json.loads(cli(server, token, "ls", "--favorites", "--json"))
    assert [c["id"] for c in listed] == [second.id]
    amy.unfavorite(second.id)
    assert amy.list(favorite=True) == []
    assert {c.id for c in amy.list()} == {first.id, second.id}


def test_a_read_only_token_looks_but_cannot_submit(amy: Client, server: ServerThread) -> None:
    token = token_of(amy)
    out = cli(server, token, "token", "create", "notebook", "--read-only")
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("chu_")
    with Client(server.url, secret) as reader:
        assert reader.me().scope == "read"
        assert reader.list() == []
        with pytest.raises(Forbidden):
            reader.submit(["true"], project="beamtime")
    refused = cli(server, secret, "submit", "--project", "beamtime", "--", "true", code=1)
    assert "HTTP 403" in refused
    listed = cli(server, token, "token", "ls")
    assert "notebook" in listed and "read" in listed


def test_the_admin_cli_manages_users_projects_and_quotas(
    client: Client, server: ServerThread, made: Any
) -> None:
    admin = made.token
    cli(server, admin, "user", "add", "carol", "--password-stdin", input=PASSWORD + "\n")
    cli(server, admin, "user", "add", "dan", "--no-password", "--role", "moderator")
    cli(
        server, admin,
        "project", "add", "ms", "--description", "mass spec", "--priority-range", "-10:50",
        "--max-running", "2", "--manager", "carol",
    )  # fmt: skip
    cli(server, admin, "project", "add-member", "ms", "dan")
    members = json.loads(cli(server, admin, "project", "members", "ms", "--json"))
    assert {(m["username"], m["role"]) for m in members} == {("carol", "manager"), ("dan", "member")}
    cli(server, admin, "project", "set", "ms", "--approval", "--max-queued", "5")
    shown: dict[str, Any] = json.loads(cli(server, admin, "project", "show", "ms", "--json"))
    assert shown["requires_approval"] is True
    assert (shown["quotas"]["max_running"], shown["quotas"]["max_queued"]) == (2, 5)
    usage = json.loads(cli(server, admin, "project", "usage", "ms", "--json"))
    assert {q["quota"] for q in usage["quotas"]} >= {"max_running", "max_queued"}
    cli(server, admin, "user", "quota", "carol", "--max-running", "1")
    assert client.user("carol").quotas.max_running == 1
    assert "carol is now moderator" in cli(server, admin, "user", "role", "carol", "moderator")
    cli(server, admin, "user", "block", "dan")
    assert client.user("dan").blocked
    cli(server, admin, "user", "unblock", "dan")
    cli(server, admin, "project", "rm-member", "ms", "dan")
    cli(server, admin, "user", "rm", "dan", "--yes")
    assert "dan" not in {u.username for u in client.users()}
    with Client(server.url, "chu_placeholder") as carol:
        carol.login("carol", PASSWORD)
        assert carol.me().role == "moderator"


def test_a_user_changes_their_password_and_signs_in_with_it(amy: Client, server: ServerThread) -> None:
    new, token = "an0ther-secret", token_of(amy)
    cli(server, token, "passwd", input=f"{PASSWORD}\n{new}\n{new}\n")
    with Client(server.url, "chu_placeholder") as again:
        assert again.sign_in("amy", new).username == "amy"
    wrong = cli(server, token, "passwd", input=f"{PASSWORD}\n{new}x\n{new}x\n", code=1)
    assert "current password is wrong" in wrong


def test_a_priority_outside_the_project_range_is_refused_for_users(client: Client, amy: Client) -> None:
    client.update_project("beamtime", priority_min=0, priority_max=10)
    calc = amy.submit(["true"], project="beamtime")
    assert amy.update(calc.id, priority=10, name="renamed").priority == 10
    with pytest.raises(BadRequest, match="allows priorities 0 to 10"):
        amy.update(calc.id, priority=50)
    assert client.update(calc.id, priority=50).priority == 50, "an admin may go beyond the range"
