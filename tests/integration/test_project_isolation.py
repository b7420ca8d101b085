"""No project leaks: a calculation of project A does not exist for a user of project B.

The calculation ran on a real agent, so it has a log, an output file and results. Every call
about it, made by the outsider, is answered exactly as the same call about a calculation that
does not exist (404, the same words); every list and table comes back without it. Its
owner, a moderator and an admin see it; the outsider sees it from the moment they join A,
and no longer from the moment they leave.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from calchub.agent.loop import Agent
from calchub.agent.settings import AgentSettings
from calchub.testing import ServerThread
from tests.integration.helpers import call, running, sign_in

PASSWORD = "isolation password"
MISSING = 999_999
SCRIPT = 'echo "step 1"; echo "secret output" > out.txt; echo \'{"energy": -1.5}\' > results.json'


@dataclass(frozen=True)
class Site:
    url: str
    admin: str
    owner: str
    outsider: str
    moderator: str
    calc_id: int
    outsiders_calc_id: int

    def as_(self, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return call(self.url, method, path, token, **kwargs)


def _user(url: str, admin: str, username: str, role: str = "user", projects: tuple[str, ...] = ()) -> str:
    body = {"username": username, "password": PASSWORD, "role": role, "projects": list(projects)}
    made = call(url, "POST", "/users", admin, json=body)
    assert made.status_code == 201, made.text
    return sign_in(url, username, PASSWORD)


def _run(url: str, token: str, project: str, name: str) -> dict[str, Any]:
    body = {"name": name, "project": project, "type": "shell", "inputs": {"script": SCRIPT}}
    body["outputs"] = ["out.txt"]
    made = call(url, "POST", "/calculations", token, json=body)
    assert made.status_code == 201, made.text
    return dict(made.json())


def _finished(url: str, token: str, ids: list[int]) -> list[dict[str, Any]]:
    done: dict[int, dict[str, Any]] = {}
    while len(done) < len(ids):
        body = {"ids": [i for i in ids if i not in done], "timeout": 20}
        answer = call(url, "POST", "/calculations/wait", token, json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json(), "nothing finished within 20 s"
        done.update({c["id"]: c for c in answer.json()})
    return [done[i] for i in ids]


@pytest.fixture
def site(server: ServerThread, made: Any, tmp_path: Path) -> Iterator[Site]:
    """Projects alpha and beta; `owner` ran a calculation in alpha, `outsider` one in beta."""
    url, admin = server.url, made.token
    for name in ("alpha", "beta"):
        created = call(url, "POST", "/projects", admin, json={"name": name})
        assert created.status_code == 201, created.text
    owner = _user(url, admin, "owner", projects=("alpha",))
    outsider = _user(url, admin, "outsider", projects=("beta",))
    moderator = _user(url, admin, "moderator", role="moderator")
    settings = AgentSettings(
        url=url, key=made.agent_key, root=tmp_path / "agent", name="isolation", cores=2, claim_wait=1
    )

    async def work() -> list[dict[str, Any]]:
        async with running(Agent(settings)):
            ours = await asyncio.to_thread(_run, url, owner, "alpha", "alpha-calculation")
            theirs = await asyncio.to_thread(_run, url, outsider, "beta", "beta-calculation")
            return await asyncio.to_thread(_finished, url, admin, [ours["id"], theirs["id"]])

    ours, theirs = asyncio.run(work())
    assert (ours["state"], theirs["state"]) == ("completed", "completed"), (ours, theirs)
    yield Site(url, admin, owner, outsider, moderator, ours["id"], theirs["id"])


#: Every call about one calculation: (method, path after /calculations/{id}, request fields).
RECORD_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "", {}),
    ("GET", "/events", {}),
    ("GET", "/logs", {}),
    ("GET", "/logs", {"params": {"stream": "stderr", "attempt": 1}}),
    ("GET", "/logs", {"params": {"follow": "true"}}),
    ("GET", "/files", {}),
    ("GET", "/files/out.txt", {}),
    ("GET", "/files/run.sh", {"params": {"kind": "input"}}),
    ("GET", "/archive", {}),
    ("GET", "/results", {}),
    ("GET", "/script", {}),
    ("POST", "/cancel", {"json": {"reason": "peeking"}}),
    ("DELETE", "", {}),
    ("PATCH", "", {"json": {"name": "renamed"}}),
    ("PUT", "/favorite", {}),
    ("DELETE", "/favorite", {}),
]
READS = [c for c in RECORD_CALLS if c[0] == "GET"]


def _about(site: Site, token: str, calc_id: int, method: str, tail: str, fields: dict[str, Any]) -> Any:
    return site.as_(token, method, f"/calculations/{calc_id}{tail}", **fields)


def _listed(site: Site, token: str, **params: Any) -> set[int]:
    answer = site.as_(token, "GET", "/calculations", params=params)
    assert answer.status_code == 200, answer.text
    return {c["id"] for c in answer.json()["items"]}


def _table_ids(site: Site, token: str, **params: Any) -> set[int]:
    answer = site.as_(token, "GET", "/results", params=params)
    assert answer.status_code == 200, answer.text
    return {row[0] for row in answer.json()["rows"]}


def _sees(site: Site, token: str) -> bool:
    """Whether the holder of ``token`` sees alpha's calculation, by show, list and results table."""
    shown = site.as_(token, "GET", f"/calculations/{site.calc_id}").status_code
    listed = site.calc_id in _listed(site, token)
    tabled = site.calc_id in _table_ids(site, token)
    assert {shown == 200, listed, tabled} in ({True}, {False}), (shown, listed, tabled)
    return listed


def test_every_call_about_another_projects_calculation_is_answered_as_if_it_did_not_exist(
    site: Site,
) -> None:
    for method, tail, fields in RECORD_CALLS:
        hidden = _about(site, site.outsider, site.calc_id, method, tail, fields)
        missing = _about(site, site.outsider, MISSING, method, tail, fields)
        where = f"{method} /calculations/{{id}}{tail} {fields}"
        assert hidden.status_code == 404, (where, hidden.status_code, hidden.text)
        assert missing.status_code == 404, (where, missing.status_code, missing.text)
        assert hidden.json() == missing.json() | {
            "detail": missing.json()["detail"].replace(str(MISSING), str(site.calc_id))
        }, where
    owned = site.as_(site.owner, "GET", f"/calculations/{site.calc_id}").json()
    assert (owned["name"], owned["favorite"]) == ("alpha-calculation", False), "nothing changed it"


def test_another_projects_calculation_is_in_no_list_filter_or_wait(site: Site) -> None:
    mine = site.outsiders_calc_id
    assert _listed(site, site.outsider) == {mine}
    assert _listed(site, site.outsider, owner="owner") == set()
    assert _listed(site, site.outsider, name="alpha-calculation") == set()
    assert _listed(site, site.outsider, name="*calculation") == {mine}
    assert _listed(site, site.outsider, state="completed", cluster="local") == {mine}
    assert _listed(site, site.outsider, sort="name", limit=1000) == {mine}
    waited = site.as_(site.outsider, "POST", "/calculations/wait", json={"ids": [site.calc_id], "timeout": 0})
    assert (waited.status_code, waited.json()) == (200, [])
    both = {"ids": [site.calc_id, mine], "timeout": 0}
    waited = site.as_(site.outsider, "POST", "/calculations/wait", json=both)
    assert [c["id"] for c in waited.json()] == [mine]
    for path in ("/calculations", "/results"):
        hidden = site.as_(site.outsider, "GET", path, params={"project": "alpha"})
        missing = site.as_(site.outsider, "GET", path, params={"project": "nosuch"})
        assert hidden.status_code == missing.status_code == 404, path
        assert hidden.json()["detail"] == missing.json()["detail"].replace("nosuch", "alpha"), path


def test_another_projects_results_are_in_no_table(site: Site) -> None:
    mine = site.outsiders_calc_id
    assert _table_ids(site, site.outsider) == {mine}
    assert _table_ids(site, site.outsider, owner="owner") == set()
    assert _table_ids(site, site.outsider, ids=[site.calc_id]) == set()
    assert _table_ids(site, site.outsider, ids=[site.calc_id, mine], fields="energy") == {mine}
    assert _table_ids(site, site.outsider, type="shell", state="completed") == {mine}
    table = site.as_(site.outsider, "GET", "/results", params={"format": "csv"})
    rows = list(csv.reader(io.StringIO(table.text)))
    assert [int(row[0]) for row in rows[1:]] == [mine]


def test_another_project_is_not_listed_and_answers_as_if_it_did_not_exist(site: Site) -> None:
    listed = site.as_(site.outsider, "GET", "/projects").json()
    assert {p["name"] for p in listed} == {"beta", "~outsider"}
    for tail in ("", "/members", "/usage"):
        hidden = site.as_(site.outsider, "GET", f"/projects/alpha{tail}")
        missing = site.as_(site.outsider, "GET", f"/projects/nosuch{tail}")
        assert hidden.status_code == missing.status_code == 404, tail
        assert hidden.json()["detail"] == missing.json()["detail"].replace("nosuch", "alpha"), tail
    into = {"command": ["true"], "project": "alpha"}
    refused = site.as_(site.outsider, "POST", "/calculations", json=into)
    assert refused.status_code == 404, "nor can they submit into it"


def test_its_owner_a_moderator_and_an_admin_see_everything_about_it(site: Site) -> None:
    for token in (site.owner, site.moderator, site.admin):
        assert _sees(site, token)
        for method, tail, fields in READS:
            answer = _about(site, token, site.calc_id, method, tail, fields)
            wanted = 409 if tail == "/script" else 200  # a local cluster has no batch script
            assert answer.status_code == wanted, (method, tail, fields, answer.text)
    log = site.as_(site.moderator, "GET", f"/calculations/{site.calc_id}/logs")
    assert log.text == "step 1\n"
    output = site.as_(site.moderator, "GET", f"/calculations/{site.calc_id}/files/out.txt")
    assert output.text == "secret output\n"
    results = site.as_(site.admin, "GET", f"/calculations/{site.calc_id}/results").json()
    assert [(s["name"], s["value"]) for s in results["scalars"]] == [("energy", -1.5)]
    assert _table_ids(site, site.moderator, project="alpha") == {site.calc_id}


def test_joining_the_project_shows_it_at_once_and_leaving_hides_it_at_once(site: Site) -> None:
    """The same access token throughout: the server forgets what it knew of the caller's projects."""
    member = "/projects/alpha/members/outsider"
    assert not _sees(site, site.outsider)
    joined = site.as_(site.admin, "PUT", member, json={"role": "member"})
    assert joined.status_code == 200, joined.text
    assert _sees(site, site.outsider)
    assert _listed(site, site.outsider, project="alpha") == {site.calc_id}
    assert site.as_(site.outsider, "GET", f"/calculations/{site.calc_id}/files/out.txt").status_code == 200
    left = site.as_(site.admin, "DELETE", member)
    assert left.status_code == 204, left.text
    assert not _sees(site, site.outsider)
    assert site.as_(site.outsider, "GET", f"/calculations/{site.calc_id}/logs").status_code == 404
    assert site.as_(site.outsider, "GET", "/projects/alpha").status_code == 404
