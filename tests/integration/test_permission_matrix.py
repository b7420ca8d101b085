"""Every operation of the OpenAPI description, called by every kind of caller, answers as the rules say.

The operations come from the running server's ``/openapi.json``; the expected answer of each
call comes from the operation's ``x-calchub-permission`` and ``calchub.domain.permissions``
(:func:`expected`), not from a list of answers written by hand. What is written by hand is
only how to make a valid request: a value for each path parameter (:data:`PATH_VALUES`), an
example body and query for the operations that need one (:data:`EXAMPLES`), and which
record-level rule of the permission module guards an operation (:data:`RECORD_RULES`). An
operation without a rule, without an example body it needs, or with a path parameter
nobody knows how to fill fails :func:`test_every_operation_has_a_rule_and_a_valid_request`.

Each call acts on a small world of records (:class:`World`): project A (which requires
approval) with a member ``user`` who owns calculation ``calc_id`` there (on cluster
``local``, with an input file ``in.txt``), a ``victim`` member of A for the calls about
users and members, an ``outsider`` in project B only, a ``moderator`` in no project, and a
spare token and agent key to revoke. A world costs one transaction and one submission, so
calls that may change something each get a fresh one; calls that are refused, and reads,
share one per operation (a refusal that changed something fails its own check anyway).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from calchub.domain.permissions import (
    Action,
    ProjectRole,
    Role,
    Scope,
    allows,
    may_cancel_calculation,
    may_change_calculation,
    may_manage_members,
    may_moderate,
    scope_allows,
    sees_all_projects,
)
from calchub.testing import ServerThread

#: Starting a model is only a wish here: no runtime runs in these servers.
pytestmark = pytest.mark.settings(run_models=False)
PREFIX = "/api/v1"
PASSWORD = "matrix password"
#: The cluster the world's calculations run on; the "other" cluster has none.
CLUSTER, OTHER = "local", "other"
SAFE = frozenset({"GET", "HEAD"})
ALLOWED = "allowed"
#: Operations for which no valid request could be built, so 422 counts as passing the check.
NO_VALID_REQUEST: frozenset[str] = frozenset()
#: Operations on a model that never runs here: past the permission check, they answer 503.
NOT_RUNNING = frozenset(
    {"POST /models/{name}/invocations", "POST /models/{name}/versions/{version}/invocations"}
)


# -- who calls ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Who:
    label: str
    credential: str  # "none", "user" or "agent"
    role: Role | None = None
    scope: Scope = Scope.FULL
    #: Role in project A, the project of the world's calculation.
    member: ProjectRole | None = None
    owner: bool = False
    cluster: str | None = None
    #: Which account of the world it signs in as.
    account: str = "user"


ANONYMOUS = Who("anonymous", "none")
OUTSIDER = Who("outsider", "user", Role.USER, account="outsider")
USER = Who("user", "user", Role.USER, member=ProjectRole.MEMBER, owner=True)
MANAGER = Who("manager of project A", "user", Role.USER, member=ProjectRole.MANAGER, account="manager")
MODERATOR = Who("moderator", "user", Role.MODERATOR, account="moderator")
ADMIN = Who("admin", "user", Role.ADMIN, account="admin")
AGENT_OF_OTHER = Who("agent key of another cluster", "agent", cluster=OTHER)
AGENT = Who("agent key of the calculation's cluster", "agent", cluster=CLUSTER)
CALLERS = (ANONYMOUS, OUTSIDER, USER, MANAGER, MODERATOR, ADMIN, AGENT_OF_OTHER, AGENT)
READ_ONLY_CALLERS = (
    Who("user, read-only token", "user", Role.USER, Scope.READ, ProjectRole.MEMBER, owner=True),
    Who("admin, read-only token", "user", Role.ADMIN, Scope.READ, account="admin"),
)


# -- the operations, and what each caller should be answered ----------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.method} {self.path.removeprefix(PREFIX)}"

    @property
    def rule(self) -> dict[str, Any] | None:
        return self.spec.get("x-calchub-permission")

    def parameters(self, where: str) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p["in"] == where]


def operations(description: dict[str, Any]) -> list[Operation]:
    return [
        Operation(method.upper(), path, spec)
        for path, methods in description["paths"].items()
        for method, spec in methods.items()
    ]


def _changes(who: Who, victim: Role) -> bool:
    return may_change_calculation(who.role or Role.USER, owner=who.owner, project_role=who.member)


def _cancels(who: Who, victim: Role) -> bool:
    return may_cancel_calculation(who.role or Role.USER, owner=who.owner, project_role=who.member)


def _manages(who: Who, victim: Role) -> bool:
    return may_manage_members(who.role or Role.USER, who.member)


def _moderates(who: Who, victim: Role) -> bool:
    return may_moderate(who.role or Role.USER, victim)


#: Record-level rules of the permission module, on top of the role's action: who may act on
#: the world's calculation (owned by ``user``), on project A's members, on the ``victim``.
RECORD_RULES: dict[str, Callable[[Who, Role], bool]] = {
    # A rename (the example); a new priority is the moderators' too (calculations:raise-priority).
    "PATCH /calculations/{calc_id}": _changes,
    "DELETE /calculations/{calc_id}": _changes,
    "POST /calculations/{calc_id}/cancel": _cancels,
    "POST /calculations/{calc_id}/retry": _changes,
    "PATCH /studies/{study_id}": _changes,
    "POST /studies/{study_id}/cancel": _cancels,
    "PUT /projects/{name}/members/{username}": _manages,
    "DELETE /projects/{name}/members/{username}": _manages,
    "POST /projects/{name}/webhooks": _manages,
    "DELETE /projects/{name}/webhooks/{webhook_id}": _manages,
    "POST /models/{name}/start": _changes,
    "POST /models/{name}/stop": _changes,
    "PATCH /models/{name}/versions/{version}": _changes,
    "POST /users/{username}/block": _moderates,
    "POST /users/{username}/unblock": _moderates,
    "PUT /users/{username}/password": _moderates,
    "POST /users/{username}/sessions/revoke": _moderates,
}


def expected(op: Operation, who: Who, victim: Role) -> int | str:
    """401, 403, 404, or ALLOWED (any answer but those three), as the permission module says."""
    rule = op.rule
    assert rule is not None, f"{op.key} has no x-calchub-permission"
    if rule["caller"] == "anyone":
        return ALLOWED
    if who.credential == "none":
        return 401
    if rule["caller"] == "agent":
        if who.credential != "agent":
            return 401
        # An agent acts on the calculations of its own cluster; others do not exist for it.
        on_calculation = any(p["name"] == "calc_id" for p in op.parameters("path"))
        return 404 if on_calculation and who.cluster != CLUSTER else ALLOWED
    assert rule["caller"] == "user", f"{op.key}: unknown caller {rule['caller']!r}"
    if who.credential != "user":
        return 401
    assert who.role is not None
    action = Action(rule["action"])
    method = "GET" if rule.get("reads") else op.method  # a POST that only reads (a long-poll)
    if not scope_allows(who.scope, action, method) or not allows(who.role, action):
        return 403
    if rule.get("within") and not (sees_all_projects(who.role) or who.member):
        return 404
    record_rule = RECORD_RULES.get(op.key)
    if record_rule is not None and not record_rule(who, victim):
        return 403
    return ALLOWED


def victim_roles(op: Operation) -> list[Role]:
    """Calls about a user run on a plain user, and on a moderator (whom moderators may not moderate)."""
    named = any(p["name"] == "username" for p in op.parameters("path"))
    return [Role.USER, Role.MODERATOR] if named else [Role.USER]


# -- the world each call acts on ----------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    token: str
    read_token: str
    spare_token_id: int


@dataclass
class World:
    tag: str
    accounts: dict[str, Account]
    project: str
    #: Project B, which has no calculations.
    empty_project: str
    calc_id: int
    attempt: int
    spare_key_id: int
    #: The study the world's calculation belongs to (its owner is ``user``).
    study_id: int
    made: Iterator[int] = field(default_factory=itertools.count)
    #: The model the world's user registered in project A (a container model, never started here).
    model: str = ""
    #: A webhook of project A, once an operation's PREPARE made one.
    webhook_id: int | None = None

    @property
    def user(self) -> Account:
        return self.accounts["user"]

    @property
    def victim(self) -> Account:
        return self.accounts["victim"]

    def fresh(self, what: str) -> str:
        return f"{what}-{self.tag}-{next(self.made)}"


@dataclass
class Example:
    json: Any = None
    content: bytes | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: Send a refresh cookie of the world's user, from signing in.
    cookie: bool = False


SUBMISSION = {"command": ["true"], "name": "matrix"}
HEARTBEAT = {"agent": "matrix", "version": "0", "host": "h", "cores": 1, "running": 0}
#: A webhook nothing reaches: its host never resolves (.invalid), and no call here fails a calculation.
WEBHOOK = {"url": "https://hooks.example.invalid/calchub", "level": "error"}

MODEL_PACKAGE = Path(__file__).parents[1] / "data" / "models" / "linear"


def _container_model(name: str, project: str | None = None) -> dict[str, Any]:
    body = {"name": name, "version": "1", "runtime": "container", "image": "example.org/models/matrix:1"}
    return body | ({"project": project} if project else {})


def _package(name: str) -> bytes:
    """The test model's package under another name (each registration needs its own)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        manifest = (MODEL_PACKAGE / "calchub-model.yaml").read_text().replace("name: linear", f"name: {name}")
        archive.writestr("calchub-model.yaml", manifest)
        archive.write(MODEL_PACKAGE / "serve.py", "serve.py")
    return buffer.getvalue()


#: How to make a valid request of each operation that needs a body or a query: world, caller -> example.
EXAMPLES: dict[str, Callable[[World, Account], Example]] = {
    "POST /auth/login": lambda w, me: Example({"username": w.user.username, "password": w.user.password}),
    "POST /auth/refresh": lambda w, me: Example(cookie=True),
    "POST /auth/logout": lambda w, me: Example(cookie=True),
    "POST /me/password": lambda w, me: Example({"current": me.password, "password": me.password}),
    "PATCH /me": lambda w, me: Example({"notify": "error"}),
    "POST /me/notices/read": lambda w, me: Example({"all": True}),
    "POST /tokens": lambda w, me: Example({"name": "matrix", "days": 1}),
    "POST /users": lambda w, me: Example({"username": w.fresh("new"), "password": PASSWORD}),
    "PATCH /users/{username}": lambda w, me: Example({"email": "someone@example.org"}),
    "PUT /users/{username}/password": lambda w, me: Example({"password": "another password"}),
    "POST /projects": lambda w, me: Example({"name": w.fresh("project")}),
    "PATCH /projects/{name}": lambda w, me: Example({"description": "changed"}),
    "PUT /projects/{name}/members/{username}": lambda w, me: Example({"role": "member"}),
    "POST /projects/{name}/webhooks": lambda w, me: Example(WEBHOOK),
    "POST /calculations": lambda w, me: Example(SUBMISSION),
    "POST /calculations/preview": lambda w, me: Example(SUBMISSION),
    "POST /calculations/batch": lambda w, me: Example({"calculations": [SUBMISSION]}),
    "POST /studies": lambda w, me: Example(
        {
            "study": "matrix",
            "template": {"type": "shell", "inputs": {"script": "true"}},
            "space": {"points": [{}]},
        }
    ),
    "POST /calculations/wait": lambda w, me: Example({"ids": [w.calc_id], "timeout": 0}),
    "PATCH /calculations/{calc_id}": lambda w, me: Example({"name": "renamed"}),
    "PATCH /studies/{study_id}": lambda w, me: Example({"description": "changed"}),
    "POST /calculations/{calc_id}/approve": lambda w, me: Example({"comment": "fine"}),
    "POST /calculations/{calc_id}/reject": lambda w, me: Example({"comment": "not now"}),
    "POST /calculations/{calc_id}/cancel": lambda w, me: Example({"reason": "enough"}),
    "GET /calculations/{calc_id}/files/{path}": lambda w, me: Example(params={"kind": "input"}),
    "GET /calculations": lambda w, me: Example(params={"owner": w.user.username, "limit": 10}),
    "GET /results": lambda w, me: Example(params={"owner": w.user.username}),
    "POST /clusters": lambda w, me: Example({"name": w.fresh("cluster")}),
    "PATCH /clusters/{name}": lambda w, me: Example({"description": "changed"}),
    "POST /clusters/{name}/keys/{key_id}/rotate": lambda w, me: Example(params={"grace_minutes": 0}),
    # Entries older than long ago: valid, and deletes nothing another call needs.
    "DELETE /logs": lambda w, me: Example(params={"before": "2000-01-01T00:00:00+00:00"}),
    "POST /models": lambda w, me: Example(_container_model(w.fresh("model"))),
    "POST /models/package": lambda w, me: Example(content=_package(w.fresh("model"))),
    "PATCH /models/{name}/versions/{version}": lambda w, me: Example({"description": "changed"}),
    "POST /models/{name}/wait": lambda w, me: Example({"timeout": 0}),
    "POST /models/{name}/invocations": lambda w, me: Example({"instances": [[1.0]]}),
    "POST /models/{name}/versions/{version}/invocations": lambda w, me: Example({"instances": [[1.0]]}),
    "POST /agent/heartbeat": lambda w, me: Example(HEARTBEAT),
    # No cores: nothing is claimed, and without a wait the answer comes at once.
    "POST /agent/claim": lambda w, me: Example({"agent": "matrix", "cores": 0, "wait": 0}),
    "POST /agent/reports": lambda w, me: Example(
        {
            "agent": "matrix",
            "reports": [
                {
                    "id": w.calc_id,
                    "attempt": w.attempt,
                    "state": "running",
                    "at": datetime.now(UTC).isoformat(),
                }
            ],
        }
    ),
    "PUT /agent/calculations/{calc_id}/logs/{stream}": lambda w, me: Example(
        content=b"a line\n", params={"attempt": w.attempt, "offset": 0}
    ),
    "PUT /agent/calculations/{calc_id}/files/{path}": lambda w, me: Example(
        content=b"an output\n", params={"attempt": w.attempt}
    ),
    "GET /agent/calculations/{calc_id}/inputs/{path}": lambda w, me: Example(params={"attempt": w.attempt}),
}

#: What each path parameter points at in the world; ``name`` depends on the section of the path.
NAMES: dict[str, Callable[[World], str]] = {
    "projects": lambda w: w.project,
    "clusters": lambda w: OTHER,
    "calctypes": lambda w: "shell",
    "models": lambda w: w.model,
}
PathValue = Callable[[World, Account, "Operation"], Any]
PATH_VALUES: dict[str, PathValue] = {
    "calc_id": lambda w, me, op: w.calc_id,
    "study_id": lambda w, me, op: w.study_id,
    "webhook_id": lambda w, me, op: w.webhook_id,
    "token_id": lambda w, me, op: me.spare_token_id,
    "key_id": lambda w, me, op: w.spare_key_id,
    "username": lambda w, me, op: w.victim.username,
    "stream": lambda w, me, op: "stdout",
    "version": lambda w, me, op: "1",
    "path": lambda w, me, op: "in.txt",
    "name": lambda w, me, op: NAMES[op.path.removeprefix(PREFIX).split("/")[1]](w),
}
#: Where an operation is valid only on other records than the usual ones.
PATH_OVERRIDES: dict[str, dict[str, PathValue]] = {
    # A project with calculations cannot be deleted (409); B has none.
    "DELETE /projects/{name}": {"name": lambda w, me, op: w.empty_project},
}


def _cancelled(matrix: Matrix, world: World) -> None:
    answer = _call(matrix.http, "POST", f"/calculations/{world.calc_id}/cancel", matrix.made.token)
    assert answer.status_code == 200, answer.text


def _webhook_added(matrix: Matrix, world: World) -> None:
    answer = _call(
        matrix.http, "POST", f"/projects/{world.project}/webhooks", matrix.made.token, json=WEBHOOK
    )
    assert answer.status_code == 201, answer.text
    world.webhook_id = answer.json()["id"]


#: What to do to a world before an operation is valid on it.
PREPARE: dict[str, Callable[[Matrix, World], None]] = {
    # Only a finished calculation can be deleted (409 before).
    "DELETE /calculations/{calc_id}": _cancelled,
    # Only a finished calculation can be retried (409 before); a shared world may be cancelled already.
    "POST /calculations/{calc_id}/retry": lambda m, w: (
        None
        if _call(m.http, "GET", f"/calculations/{w.calc_id}", m.made.token).json()["state"] == "cancelled"
        else _cancelled(m, w)
    ),
    # Only a webhook that exists can be removed (404 before).
    "DELETE /projects/{name}/webhooks/{webhook_id}": _webhook_added,
}


# -- running the calls --------------------------------------------------------------------------


class Matrix:
    """Builds worlds on the running server and makes the calls."""

    def __init__(self, server: ServerThread, made: Any, http: httpx.Client) -> None:
        from calchub.server.hub import Hub

        self.server, self.made, self.http = server, made, http
        self.hub: Hub = server.app.state.hub
        self.worlds = itertools.count()
        admin = _call(http, "GET", "/me", made.token).json()
        self.admin_id = admin["id"]
        created = _call(http, "POST", "/clusters", made.token, json={"name": OTHER})
        assert created.status_code == 201, created.text
        self.other_id = created.json()["id"]
        issued = _call(http, "POST", f"/clusters/{OTHER}/keys", made.token)
        self.agent_keys = {CLUSTER: made.agent_key, OTHER: issued.json()["key"]}
        read = _call(http, "POST", "/tokens", made.token, json={"name": "ro", "scope": "read"})
        assert read.status_code == 201, read.text
        self.admin_read_token = read.json()["token"]

    def world(self, victim: Role = Role.USER) -> World:
        """One transaction for the people, projects and keys, then the user submits the calculation."""
        from calchub.server.db.tables import Project
        from calchub.server.repositories import projects as project_repo
        from calchub.server.services.auth import issue_agent_key
        from calchub.server.services.people import create_user

        tag = f"w{next(self.worlds)}"
        accounts: dict[str, Account] = {}
        with self.hub.uow() as session:
            people = {
                "user": Role.USER,
                "manager": Role.USER,
                "outsider": Role.USER,
                "moderator": Role.MODERATOR,
                "victim": victim,
            }
            ids = {}
            for kind, role in people.items():
                person = create_user(session, f"{kind}-{tag}", PASSWORD, role.value)
                ids[kind] = person.id
                accounts[kind] = self._account(session, person.id, person.username, PASSWORD)
            accounts["admin"] = self._account(session, self.admin_id, "admin", self.made.password)
            a = project_repo.add(session, Project(name=f"a-{tag}", requires_approval=True))
            b = project_repo.add(session, Project(name=f"b-{tag}"))
            members = [(a, "user"), (a, "manager"), (a, "victim"), (b, "outsider")]
            for project, kind in members:
                role = ProjectRole.MANAGER if kind == "manager" else ProjectRole.MEMBER
                project_repo.put_member(session, project.id, ids[kind], role.value)
            key, _ = issue_agent_key(session, self.other_id)
            key_id, project, empty = key.id, a.name, b.name
        body = {
            **SUBMISSION,
            "project": project,
            "study": "matrix",
            "files": [{"path": "in.txt", "content": "hello\n"}],
        }
        calc = _call(self.http, "POST", "/calculations", accounts["user"].token, json=body)
        assert calc.status_code == 201, calc.text
        assert calc.json()["state"] == "pending_approval"
        params = {"name": "matrix", "project": project}
        study = _call(self.http, "GET", "/studies", accounts["user"].token, params=params).json()["items"][0]
        model = _container_model(f"model-{tag}", project)
        registered = _call(self.http, "POST", "/models", accounts["user"].token, json=model)
        assert registered.status_code == 201, registered.text
        return World(
            tag,
            accounts,
            project,
            empty,
            calc.json()["id"],
            calc.json()["attempt"],
            key_id,
            study["id"],
            model=model["name"],
        )

    def _account(self, session: Any, user_id: int, username: str, password: str) -> Account:
        from calchub.server.services.auth import issue_token

        _, token = issue_token(session, user_id, "matrix", None)
        _, read_token = issue_token(session, user_id, "ro", None, Scope.READ.value)
        spare, _ = issue_token(session, user_id, "spare", None)
        return Account(username, password, token, read_token, spare.id)

    def credential(self, who: Who, world: World) -> tuple[str | None, Account]:
        """The secret ``who`` sends, and the account whose own records (token, password) it uses."""
        account = world.accounts[who.account]
        if who.credential == "agent":
            assert who.cluster is not None
            return self.agent_keys[who.cluster], account
        if who.credential == "none":
            return None, account
        if who.scope is Scope.READ:
            return (self.admin_read_token if who.account == "admin" else account.read_token), account
        return account.token, account

    def call(self, op: Operation, who: Who, world: World) -> httpx.Response:
        secret, me = self.credential(who, world)
        path = op.path
        for parameter in op.parameters("path"):
            chosen = PATH_OVERRIDES.get(op.key, {}).get(parameter["name"], PATH_VALUES[parameter["name"]])
            value = chosen(world, me, op)
            path = path.replace("{" + parameter["name"] + "}", str(value))
        example = EXAMPLES[op.key](world, me) if op.key in EXAMPLES else Example()
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        if example.cookie:
            headers["Cookie"] = f"calchub_refresh={self.refresh_cookie(world)}"
        answer = self.http.request(
            op.method,
            path,
            headers=headers,
            json=example.json,
            content=example.content,
            params=example.params,
        )
        self.http.cookies.clear()  # what one call was given is not sent on the next
        return answer

    def prepare(self, op: Operation, world: World) -> World:
        if op.key in PREPARE:
            PREPARE[op.key](self, world)
        return world

    def refresh_cookie(self, world: World) -> str:
        body = {"username": world.user.username, "password": world.user.password}
        answer = self.http.post(f"{PREFIX}/auth/login", json=body)
        assert answer.status_code == 200, answer.text
        cookie = answer.cookies["calchub_refresh"]
        self.http.cookies.clear()
        return cookie

    def check(self, op: Operation, callers: tuple[Who, ...], victim: Role, shared: World) -> list[str]:
        """Call ``op`` as each caller; a call that may change something gets its own world."""
        plan = [(who, expected(op, who, victim)) for who in callers]
        changing = [who for who, want in plan if want == ALLOWED and op.method not in SAFE]
        plan.sort(key=lambda item: item[0] in changing)  # refusals and reads first, on the shared world
        problems = []
        self.prepare(op, shared)
        for who, want in plan:
            fresh = who in changing and who is not changing[0]
            world = self.prepare(op, self.world(victim)) if fresh else shared
            answer = self.call(op, who, world)
            if not _as_expected(op, want, answer.status_code):
                detail = answer.text[:200].replace("\n", " ")
                problems.append(
                    f"{op.key} as {who.label} (victim {victim.value}): "
                    f"expected {want}, got {answer.status_code} {detail}"
                )
        return problems


def _as_expected(op: Operation, want: int | str, got: int) -> bool:
    if want != ALLOWED:
        return got == want
    if got == 422:
        return op.key in NO_VALID_REQUEST
    if got == 503:
        return op.key in NOT_RUNNING
    return got not in {401, 403, 404} and got < 500


def _call(http: httpx.Client, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.request(method, f"{PREFIX}{path}", headers=headers, **kwargs)


@pytest.fixture
def http(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def description(http: httpx.Client) -> dict[str, Any]:
    answer = http.get("/openapi.json")
    assert answer.status_code == 200
    return answer.json()


@pytest.fixture
def matrix(server: ServerThread, made: Any, http: httpx.Client) -> Matrix:
    return Matrix(server, made, http)


# -- the tests ----------------------------------------------------------------------------------


def test_every_operation_has_a_rule_and_a_valid_request(tmp_path: Path) -> None:
    """A new endpoint without a permission rule, an example body or path values breaks this test."""
    from calchub.server.app import create_app
    from calchub.server.settings import Settings

    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'unused.db'}")
    description = create_app(settings).openapi()  # no server needed: the database is never opened
    problems = []
    for op in operations(description):
        rule = op.rule
        if rule is None:
            problems.append(f"{op.key} has no x-calchub-permission")
            continue
        if rule["caller"] == "user":
            Action(rule["action"])  # an action the permission module knows
            within = rule.get("within")
            needs = {
                "calculation": "calc_id",
                "project": "name",
                "study": "study_id",
                "model": "name",
                None: None,
            }[within]
            if needs and needs not in {p["name"] for p in op.parameters("path")}:
                problems.append(f"{op.key} acts within a {within} but has no {needs} in its path")
        if op.spec.get("requestBody", {}).get("required") and op.key not in EXAMPLES:
            problems.append(f"{op.key} needs a body: add an example to EXAMPLES")
        missing = [p["name"] for p in op.parameters("path") if p["name"] not in PATH_VALUES]
        if missing:
            problems.append(f"{op.key}: no value for path parameters {missing} in PATH_VALUES")
        required = [p["name"] for p in op.parameters("query") if p.get("required")]
        if required and op.key not in EXAMPLES:
            problems.append(f"{op.key} needs query parameters {required}: add an example to EXAMPLES")
    keys = {op.key for op in operations(description)}
    stale = sorted((set(EXAMPLES) | set(RECORD_RULES) | set(PATH_OVERRIDES) | set(PREPARE)) - keys)
    assert not stale, f"examples or rules of operations that no longer exist: {stale}"
    assert not problems, "\n".join(problems)


def test_every_operation_answers_every_caller_as_the_permission_module_says(
    matrix: Matrix, description: dict[str, Any]
) -> None:
    problems = []
    for op in operations(description):
        for victim in victim_roles(op):
            problems += matrix.check(op, CALLERS, victim, matrix.world(victim))
    assert not problems, "\n".join(problems)


def test_a_read_only_token_reads_with_read_actions_and_is_refused_everything_else(
    matrix: Matrix, description: dict[str, Any]
) -> None:
    """GETs whose action is a read action answer as for a full token; every other call is 403.

    Nothing a read-only token is allowed changes anything, so one world serves every call.
    """
    world = matrix.world()
    problems = []
    for op in operations(description):
        if op.rule and op.rule["caller"] == "user" and op.method not in SAFE and not op.rule.get("reads"):
            assert all(expected(op, who, Role.USER) == 403 for who in READ_ONLY_CALLERS), op.key
        problems += matrix.check(op, READ_ONLY_CALLERS, Role.USER, world)
    assert not problems, "\n".join(problems)
