"""Signing in: access tokens, rotating refresh tokens, revocation, blocking and throttling."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from calchub.client import Client
from calchub.server.db.tables import ApiToken, RefreshToken, SignInFailures
from calchub.server.hub import Hub
from calchub.server.services import access
from calchub.server.settings import Settings
from calchub.testing import ServerThread

PASSWORD = "correct horse battery"


@pytest.fixture
def hub(settings: Settings, server: ServerThread) -> Iterator[Hub]:
    opened = Hub.from_settings(settings)
    yield opened
    opened.engine.dispose()


@pytest.fixture
def browser(server: ServerThread) -> Iterator[httpx.Client]:
    """A client that keeps cookies, as a browser does."""
    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=10) as http:
        yield http


def _sign_in(http: httpx.Client, username: str = "carol", password: str = PASSWORD) -> httpx.Response:
    return http.post("/auth/login", json={"username": username, "password": password})


def _me(http: httpx.Client, token: str) -> httpx.Response:
    return http.get("/me", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def carol(make_user: Callable[..., Client]) -> Client:
    return make_user("carol", password=PASSWORD)


def test_signing_in_gives_an_access_token_and_an_httponly_refresh_cookie(
    browser: httpx.Client, carol: Client
) -> None:
    answer = _sign_in(browser)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["token_type"], body["username"], body["role"], body["expires_in"]) == (
        "bearer",
        "carol",
        "user",
        900,
    )
    cookie = answer.headers["set-cookie"]
    assert "calchub_refresh=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/api/v1/auth" in cookie
    assert _me(browser, body["access_token"]).json()["username"] == "carol"


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_whole_session(
    browser: httpx.Client, carol: Client, server: ServerThread
) -> None:
    first = _sign_in(browser).json()["access_token"]
    stolen = browser.cookies["calchub_refresh"]
    rotated = browser.post("/auth/refresh")
    assert rotated.status_code == 200
    assert browser.cookies["calchub_refresh"] != stolen, "each use issues the next token"
    second = rotated.json()["access_token"]
    assert _me(browser, second).status_code == 200
    _age_used_tokens(server, timedelta(seconds=21))  # past the grace for tabs renewing together
    # Someone presents the used token again: refused, and the family with it.
    replay = httpx.post(f"{server.url}/api/v1/auth/refresh", cookies={"calchub_refresh": stolen})
    assert replay.status_code == 401 and "used already" in replay.json()["detail"]
    assert browser.post("/auth/refresh").status_code == 401, "the owner's newer token is revoked too"
    for token in (first, second):
        assert _me(browser, token).status_code == 401, "access tokens of the ended session stop"


def test_two_tabs_renewing_at_once_both_go_on_but_a_copy_used_later_ends_the_session(
    browser: httpx.Client, carol: Client, server: ServerThread
) -> None:
    _sign_in(browser)
    shared = browser.cookies["calchub_refresh"]

    def refresh(token: str) -> httpx.Response:
        return httpx.post(f"{server.url}/api/v1/auth/refresh", cookies={"calchub_refresh": token})

    first, second = refresh(shared), refresh(shared)  # two tabs, one cookie jar, the same moment
    assert (first.status_code, second.status_code) == (200, 200), "the second tab raced the first"
    successor = first.cookies["calchub_refresh"]
    assert "calchub_refresh" not in second.cookies, "no second successor: the session does not fork"
    for answer in (first, second):
        assert _me(browser, answer.json()["access_token"]).status_code == 200
    assert refresh(successor).status_code == 200, "the session goes on with the first's successor"
    _age_used_tokens(server, timedelta(seconds=21))
    late = refresh(shared)
    assert late.status_code == 401 and "used already" in late.json()["detail"]
    assert _me(browser, second.json()["access_token"]).status_code == 401, "the session ended"


def _age_used_tokens(server: ServerThread, by: timedelta) -> None:
    """Make every used refresh token look used ``by`` longer ago."""
    hub = server.app.state.hub
    with hub.uow() as session:
        for record in session.scalars(select(RefreshToken).where(RefreshToken.used_at.is_not(None))):
            assert record.used_at is not None
            record.used_at -= by


def test_logging_out_ends_the_session(browser: httpx.Client, carol: Client) -> None:
    token = _sign_in(browser).json()["access_token"]
    assert browser.post("/auth/logout").status_code == 204
    assert browser.post("/auth/refresh").status_code == 401
    assert _me(browser, token).status_code == 401


def test_an_expired_or_forged_access_token_is_refused(
    browser: httpx.Client, carol: Client, settings: Settings
) -> None:
    _sign_in(browser)
    key = settings.resolved_secret_key()
    then = datetime.now(UTC) - timedelta(hours=1)
    expired = access.issue(key, carol.me().id, "any-session", timedelta(minutes=15), then)
    answer = _me(browser, expired)
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]
    forged = access.issue("another key that is long enough to sign", 1, "s", timedelta(minutes=5), then)
    assert _me(browser, forged).status_code == 401


def test_an_expired_personal_token_is_refused(carol: Client, server: ServerThread, hub: Hub) -> None:
    issued = carol.create_token("short", days=1)
    with hub.uow() as session:
        record = session.get(ApiToken, issued.id)
        assert record is not None
        record.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    answer = httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {issued.token}"})
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]


def test_a_blocked_user_loses_every_credential_at_once(
    browser: httpx.Client, carol: Client, client: Client, server: ServerThread
) -> None:
    access_token = _sign_in(browser).json()["access_token"]
    personal = carol.create_token("script").token
    # Each credential is checked once, so the server has them in its cache.
    assert _me(browser, access_token).status_code == 200
    assert _me(browser, personal).status_code == 200
    assert client.block_user("carol").blocked
    assert _me(browser, access_token).status_code == 401
    answer = _me(browser, personal)
    assert answer.status_code == 401 and "blocked" in answer.json()["detail"]
    assert browser.post("/auth/refresh").status_code == 401
    assert _sign_in(browser).status_code == 401
    client.unblock_user("carol")
    assert _me(browser, personal).status_code == 200, "personal tokens work again once unblocked"
    assert _me(browser, access_token).status_code == 401, "sign-in sessions stay ended"
    assert _sign_in(browser).status_code == 200


def test_an_admin_ends_everyones_sessions(
    browser: httpx.Client, carol: Client, client: Client, make_user: Callable[..., Client]
) -> None:
    make_user("dave", password=PASSWORD)
    tokens = [_sign_in(browser, name).json()["access_token"] for name in ("carol", "dave")]
    assert client.revoke_all_sessions().revoked == 2
    assert all(_me(browser, t).status_code == 401 for t in tokens)
    assert browser.post("/auth/refresh").status_code == 401
    assert carol.me().username == "carol", "personal API tokens are not sessions"


def test_a_password_change_ends_the_sessions_and_the_old_password(
    browser: httpx.Client, carol: Client
) -> None:
    token = _sign_in(browser).json()["access_token"]
    carol.change_password(PASSWORD, "a better passphrase")
    assert _me(browser, token).status_code == 401
    assert _sign_in(browser).status_code == 401
    assert _sign_in(browser, password="a better passphrase").status_code == 200


def test_failed_sign_ins_slow_down_per_account_and_per_address(
    browser: httpx.Client, carol: Client, hub: Hub
) -> None:
    for _ in range(5):
        assert _sign_in(browser, password="wrong").status_code == 401
    slowed = _sign_in(browser)
    assert slowed.status_code == 429, "even the right password waits its turn"
    assert int(slowed.headers["retry-after"]) >= 1
    assert "too many failed sign-ins for this account" in slowed.json()["detail"]
    _age(hub, "user:carol", seconds=2)
    assert _sign_in(browser).status_code == 200, "once the delay has passed"
    # Per address: many accounts tried from one place.
    for n in range(20):
        _sign_in(browser, f"nobody{n}", "x")
    answer = _sign_in(browser)
    assert answer.status_code == 429 and "your address" in answer.json()["detail"]


def _age(hub: Hub, key: str, seconds: float) -> None:
    """Move a failure record into the past, as waiting would."""
    with hub.uow() as session:
        record = session.get(SignInFailures, key)
        assert record is not None
        record.last_at = record.last_at - timedelta(seconds=seconds)


def test_a_read_only_token_looks_but_changes_nothing(carol: Client, server: ServerThread) -> None:
    reader = carol.create_token("dashboard", scope="read")
    headers = {"Authorization": f"Bearer {reader.token}"}
    base = f"{server.url}/api/v1"
    assert httpx.get(f"{base}/calculations", headers=headers).status_code == 200
    refused = httpx.post(f"{base}/calculations", headers=headers, json={"command": ["true"]})
    assert refused.status_code == 403 and "read-only" in refused.json()["detail"]
    assert httpx.post(f"{base}/tokens", headers=headers, json={"name": "escalate"}).status_code == 403


def test_agent_keys_rotate_with_a_grace_period(client: Client, server: ServerThread, made: Any) -> None:
    beat = {"agent": "a", "version": "0", "host": "h", "cores": 1, "running": 0}
    base = f"{server.url}/api/v1/agent/heartbeat"

    def heartbeat(key: str) -> int:
        return httpx.post(base, headers={"Authorization": f"Bearer {key}"}, json=beat).status_code

    (first,) = client.agent_keys("local")
    rotated = client.rotate_key("local", first.id, grace_minutes=10)
    assert heartbeat(rotated.key) == 200 and heartbeat(made.agent_key) == 200, "both during the grace"
    again = client.rotate_key("local", rotated.id)
    assert heartbeat(again.key) == 200
    assert heartbeat(rotated.key) == 401, "no grace: the old key stops at once"


def test_a_read_only_token_may_wait(carol: Client, server: ServerThread) -> None:
    calc = carol.submit(["true"])
    reader = carol.create_token("watch", scope="read")
    answer = httpx.post(
        f"{server.url}/api/v1/calculations/wait",
        headers={"Authorization": f"Bearer {reader.token}"},
        json={"ids": [calc.id], "timeout": 0},
    )
    assert (answer.status_code, answer.json()) == (200, [])


def test_blocking_ends_a_log_stream_that_is_waiting(
    carol: Client, client: Client, server: ServerThread
) -> None:
    calc = carol.submit(["true"])  # queued: its log stream waits for a run that never comes
    personal = carol.create_token("follow").token
    url = f"{server.url}/api/v1/calculations/{calc.id}/logs?follow=true"
    with httpx.stream("GET", url, headers={"Authorization": f"Bearer {personal}"}, timeout=10) as stream:
        assert stream.status_code == 200
        client.block_user("carol")
        began = time.monotonic()
        assert b"".join(stream.iter_bytes()) == b""
    assert time.monotonic() - began < 5, "the stream ended when the block was felt, not at its 15 s wait"
