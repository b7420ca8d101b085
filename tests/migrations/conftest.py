"""An empty database of each kind, for migrations to build from nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _drop, _pg_available, _pg_url, _recreate


@pytest.fixture
def empty_database_url(db_kind: str, tmp_path: Path, worker_id: str) -> Iterator[str]:
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    reason = _pg_available()
    if reason:
        pytest.skip(reason)
    name = f"calchub_migrations_{worker_id}_{os.getpid()}_test"
    _recreate(name, template=None)
    yield _pg_url(name)
    _drop(name)
