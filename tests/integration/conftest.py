"""The real app over real HTTP in this process, on SQLite and on PostgreSQL.

``@pytest.mark.settings(lease_seconds=1.0)`` changes the server's settings for one test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from calchub.client import Client
from calchub.server.settings import Settings
from calchub.testing import ServerThread, bootstrap
from tests.integration.helpers import PAGE_PASSWORD


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "settings(**overrides): server settings for this test")


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes() -> Iterator[None]:
    """Argon2 at its default cost takes a quarter second a hash, and every test bootstraps an admin.

    Verification reads the cost from the stored hash, so logging in is tested all the same.
    """
    from argon2 import PasswordHasher

    from calchub.server.services import auth

    original = auth._hasher
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    auth._hasher = original


@pytest.fixture
def settings(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    marker = request.node.get_closest_marker("settings")
    overrides = marker.kwargs if marker else {}
    chosen: dict[str, Any] = {
        "home": tmp_path / "home",
        "database_url": database_url,
        "lease_seconds": 2.0,
        "heartbeat_seconds": 0.5,
        "max_upload_bytes": 1024 * 1024,
        "max_request_bytes": 4 * 1024 * 1024,
    }
    return Settings(**(chosen | overrides))


@pytest.fixture
def made(settings: Settings) -> Any:
    return bootstrap(settings)


@pytest.fixture
def server(settings: Settings, made: Any) -> Iterator[ServerThread]:
    with ServerThread(settings) as running:
        yield running


@pytest.fixture
def client(server: ServerThread, made: Any) -> Iterator[Client]:
    with Client(server.url, made.token) as admin:
        yield admin


@pytest.fixture
def make_user(settings: Settings, server: ServerThread) -> Iterator[Callable[..., Client]]:
    """``make_user("bob")`` adds a user straight in the database and returns a Client as them."""
    from calchub.server.hub import Hub
    from calchub.server.services.auth import issue_token
    from calchub.server.services.people import create_user

    hub = Hub.from_settings(settings)
    opened: list[Client] = []

    def make(username: str, password: str | None = None, role: str = "user") -> Client:
        with hub.uow() as session:
            user = create_user(session, username, password, role)
            _, token = issue_token(session, user.id, "tests", None)
        opened.append(Client(server.url, token))
        return opened[-1]

    yield make
    for each in opened:
        each.close()
    hub.engine.dispose()


@pytest.fixture
def browser(server: ServerThread) -> Iterator[Callable[..., httpx.Client]]:
    """``browser("alice")``: an HTTP client signed in through the sign-in page, keeping its cookies;
    ``browser(token=...)`` carries a credential as its access cookie, as a hand-made request could."""
    opened: list[httpx.Client] = []

    def sign_in(
        username: str | None = None, password: str = PAGE_PASSWORD, token: str | None = None
    ) -> httpx.Client:
        cookies = {"calchub_access": token} if token else None
        http = httpx.Client(base_url=server.url, timeout=30, cookies=cookies)
        opened.append(http)
        if username:
            answer = http.post("/login", data={"username": username, "password": password, "next": "/"})
            assert answer.status_code == 303, answer.text
        return http

    yield sign_in
    for http in opened:
        http.close()
