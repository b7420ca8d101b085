"""Who may call what: user tokens, passwords and agent keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from calchub.client import Client, NotFound, Unauthorized
from calchub.testing import ServerThread

USER_ENDPOINTS = [("GET", "/calculations"), ("GET", "/me"), ("GET", "/clusters"), ("GET", "/tokens")]
AGENT_BEAT = {"agent": "a", "version": "0", "host": "h", "cores": 1, "running": 0}


def _call(server: ServerThread, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{server.url}/api/v1{path}", headers=headers, timeout=10, **kwargs)


def test_user_endpoints_refuse_missing_or_wrong_tokens(server: ServerThread) -> None:
    health = _call(server, "GET", "/health", None)
    assert (health.status_code, health.json()["status"]) == (200, "ok"), "health needs no credentials"
    for authorization in [None, "Bearer chu_not-a-real-token", "Bearer garbage", "Basic YWRtaW46eA=="]:
        headers = {"Authorization": authorization} if authorization else {}
        for method, path in USER_ENDPOINTS:
            answer = httpx.request(method, f"{server.url}/api/v1{path}", headers=headers, timeout=10)
            assert answer.status_code == 401, (authorization, method, path)
            assert answer.headers["www-authenticate"] == "Bearer"
            assert answer.json()["detail"]


def test_an_agent_key_is_not_a_user_token(server: ServerThread, made: Any) -> None:
    for method, path in USER_ENDPOINTS:
        answer = _call(server, method, path, made.agent_key)
        assert answer.status_code == 401, (method, path)
        assert "agent keys are for the agent endpoints" in answer.json()["detail"]


def test_a_user_token_is_not_an_agent_key(server: ServerThread, made: Any) -> None:
    calls = [
        ("POST", "/agent/heartbeat", {"json": AGENT_BEAT}),
        ("POST", "/agent/claim", {"json": {"agent": "a", "cores": 1, "wait": 0}}),
        ("POST", "/agent/reports", {"json": {"agent": "a", "reports": []}}),
        ("PUT", "/agent/calculations/1/logs/stdout?attempt=1&offset=0", {"content": b"x"}),
        ("PUT", "/agent/calculations/1/files/out.txt?attempt=1", {"content": b"x"}),
    ]
    for method, path, kwargs in calls:
        answer = _call(server, method, path, made.token, **kwargs)
        assert answer.status_code == 401, (method, path)
        assert "not an agent key" in answer.json()["detail"]
    assert _call(server, "POST", "/agent/heartbeat", made.agent_key, json=AGENT_BEAT).status_code == 200


def test_a_revoked_agent_key_is_refused(client: Client, server: ServerThread) -> None:
    issued = client.issue_agent_key("local")
    assert _call(server, "POST", "/agent/heartbeat", issued.key, json=AGENT_BEAT).status_code == 200
    client.revoke_agent_key("local", issued.id)
    answer = _call(server, "POST", "/agent/heartbeat", issued.key, json=AGENT_BEAT)
    assert answer.status_code == 401
    assert "revoked" in answer.json()["detail"]
    assert [k.revoked_at is not None for k in client.agent_keys("local")] == [False, True]


def test_tokens_are_created_listed_and_revoked(client: Client, server: ServerThread) -> None:
    issued = client.create_token("laptop", days=7)
    assert issued.token.startswith("chu_")
    assert issued.expires_at is not None
    assert issued.prefix == issued.token[:10]
    with Client(server.url, issued.token) as second:
        assert second.me().username == "admin"
        listed = {t.name: t for t in client.tokens()}
        assert set(listed) == {"calchub up", "laptop"}
        assert not hasattr(listed["laptop"], "token"), "a secret is shown only once"
        revoked = client.revoke_token(issued.id)
        assert revoked.revoked_at is not None
        with pytest.raises(Unauthorized, match="revoked"):
            second.me()
    assert client.me().username == "admin", "revoking one token leaves the others working"
    assert client.revoke_token(issued.id).revoked_at == revoked.revoked_at


def test_users_cannot_revoke_each_others_tokens(client: Client, make_user: Callable[..., Client]) -> None:
    bob = make_user("bob")
    mine = client.create_token("mine")
    with pytest.raises(NotFound):
        bob.revoke_token(mine.id)
    assert [t.name for t in bob.tokens()] == ["tests"]
    assert client.revoke_token(mine.id).revoked_at is not None


def test_login_with_the_bootstrap_password(server: ServerThread, made: Any) -> None:
    with Client(server.url, "chu_placeholder") as anonymous:
        with pytest.raises(Unauthorized):
            anonymous.me()
        issued = anonymous.login(made.username, made.password, days=1)
        assert issued.name.startswith("calchub login on ")
        assert issued.expires_at is not None
        me = anonymous.me()
        assert (me.id, me.username, me.role, me.scope) == (1, "admin", "admin", "full")
        assert [p.project for p in me.projects] == ["~admin"]
        assert issued.name in {t.name for t in anonymous.tokens()}


def test_login_refuses_wrong_passwords(server: ServerThread, made: Any) -> None:
    for username, password in [("admin", "wrong"), ("nobody", "x"), ("admin", made.password + "x")]:
        body = {"username": username, "password": password}
        answer = _call(server, "POST", "/auth/login", None, json=body)
        assert answer.status_code == 401
        assert answer.json()["detail"] == "wrong username or password"
    empty = _call(server, "POST", "/auth/login", None, json={"username": "admin", "password": ""})
    assert empty.status_code == 422


def test_other_users_log_in_with_their_own_password_if_they_have_one(
    server: ServerThread, make_user: Callable[..., Client]
) -> None:
    make_user("tokenonly")
    answer = _call(server, "POST", "/auth/login", None, json={"username": "tokenonly", "password": "x"})
    assert answer.status_code == 401
    make_user("carol", password="s3cret-enough")
    with Client(server.url, "chu_placeholder") as carol:
        carol.login("carol", "s3cret-enough")
        assert carol.me().role == "user"
        with pytest.raises(Unauthorized):
            carol.login("carol", "s3cret-enougH")


def test_an_agent_cannot_write_files_or_logs_for_work_nobody_claimed(
    client: Client, server: ServerThread, made: Any
) -> None:
    queued = client.submit(["true"])
    forged = [
        ("PUT", f"/agent/calculations/{queued.id}/files/forged.txt?attempt=0", {"content": b"x"}),
        ("PUT", f"/agent/calculations/{queued.id}/logs/stdout?attempt=0&offset=0", {"content": b"x"}),
    ]
    for method, path, kwargs in forged:
        answer = _call(server, method, path, made.agent_key, **kwargs)
        assert answer.status_code == 409 and "never claimed" in answer.json()["detail"], path
    assert client.files(queued.id) == [] and client.logs(queued.id) == ""
