"""The real app over real HTTP in this process, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from calchub.client import Client
from calchub.server.settings import Settings
from calchub.testing import ServerThread, bootstrap


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        lease_seconds=2.0,
        heartbeat_seconds=0.5,
        max_upload_bytes=1024 * 1024,
        max_request_bytes=4 * 1024 * 1024,
    )


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
