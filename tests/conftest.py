"""Shared test set-up: a clean environment, and the databases to test against.

``--db sqlite|postgresql|both`` (default both) chooses the databases that
the data-layer and end-to-end tests run on. PostgreSQL tests use one
database per xdist worker, cloned from a migrated template; every name ends
in ``_test`` and any other name is refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

for _name in [n for n in os.environ if n.startswith("CALCHUB_")]:
    del os.environ[_name]
# The CLI's console takes its width once, when first imported (by whichever test comes first):
# wide enough that no table in a test wraps a cell.
os.environ["COLUMNS"] = "200"

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default="both",
        choices=["sqlite", "postgresql", "both"],
        help="databases for the data-layer and end-to-end tests",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_kind" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--db")
        kinds = ["sqlite", "postgresql"] if chosen == "both" else [chosen]
        metafunc.parametrize("db_kind", kinds)


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as error:
        return f"PostgreSQL at 127.0.0.1:5432 is not reachable ({error}); run scripts/ensure-postgres"


@pytest.fixture(scope="session")
def pg_template(worker_id: str) -> Iterator[str]:
    """A migrated template database for this worker; skips when PostgreSQL is absent."""
    reason = _pg_available()
    if reason:
        pytest.skip(reason)
    from calchub.server.db.engine import make_engine
    from calchub.server.db.migrate import upgrade

    name = f"calchub_tpl_{worker_id}_{os.getpid()}_test"
    _recreate(name, template=None)
    engine = make_engine(_pg_url(name))
    upgrade(engine)
    engine.dispose()
    yield name
    _drop(name)


def _pg_url(name: str) -> str:
    if not name.endswith("_test"):
        raise RuntimeError(f"refusing to touch database {name!r}: test databases end in _test")
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def _admin_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql)  # type: ignore[arg-type]


def _drop(name: str) -> None:
    _pg_url(name)
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _recreate(name: str, template: str | None) -> None:
    _drop(name)
    clause = f' TEMPLATE "{template}"' if template else ""
    _admin_execute(f'CREATE DATABASE "{name}"{clause}')


@pytest.fixture
def database_url(
    db_kind: str, tmp_path: Path, request: pytest.FixtureRequest, worker_id: str
) -> Iterator[str]:
    """A fresh, migrated database of the kind under test."""
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'calchub.db'}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"calchub_{worker_id}_{os.getpid()}_test"
    _recreate(name, template)
    yield _pg_url(name)
    _drop(name)


@pytest.fixture
def empty_database_url(db_kind: str, tmp_path: Path, worker_id: str) -> Iterator[str]:
    """An empty database of the kind under test, with nothing migrated, named after this process.

    For migrations built from nothing, and for servers that migrate their own database
    as a new site does.
    """
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    reason = _pg_available()
    if reason:
        pytest.skip(reason)
    name = f"calchub_empty_{worker_id}_{os.getpid()}_test"
    _recreate(name, template=None)
    try:
        yield _pg_url(name)
    finally:
        _drop(name)
