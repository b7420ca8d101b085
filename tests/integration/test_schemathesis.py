"""Schemathesis against the running server: no request, however odd, is answered with a server error.

Every operation of ``/openapi.json`` gets a few requests generated from its schema, valid ones
(positive) and ones that break it (negative), derandomized so every run sends the same. User
operations are called by a signed-in regular user (an access token from ``/auth/login``) who
owns a calculation; agent operations with the cluster's agent key, since with a user's token
they would all stop at 401. A 5xx fails the test with the request to reproduce it and the
server's traceback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from calchub.testing import ServerThread
from tests.integration.helpers import call, sign_in

#: Examples per operation and generation mode (positive and negative), for some 66 operations.
EXAMPLES = 6
#: Long-polls hold the request until something happens or their timeout: keep it short.
LONG_POLLS = {"/api/v1/calculations/wait": "timeout", "/api/v1/agent/claim": "wait"}
PASSWORD = "schemathesis password"


def _bounded(case: Any) -> None:
    """Keep a generated request from holding the server: short long-polls, no following of logs.

    ``logs?follow=true`` streams until the calculation ends, which a queued one never does
    here; everything else about the logs call is still generated.
    """
    field = LONG_POLLS.get(case.operation.path)
    if field and isinstance(case.body, dict):
        asked = case.body.get(field, 0.2)  # unset means their default, 30 s and 20 s
        if isinstance(asked, int | float) and not isinstance(asked, bool):
            case.body[field] = min(asked, 0.2)
    if case.operation.path.endswith("/logs") and isinstance(case.query, dict) and "follow" in case.query:
        case.query["follow"] = "false"


class ServerErrors(logging.Handler):
    """The tracebacks uvicorn logs; it logs them just after it has sent the 500."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []
        self.logged = threading.Event()
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))
        self.logged.set()

    def take(self) -> str:
        self.logged.wait(5)
        taken, self.records = "\n".join(self.records), []
        self.logged.clear()
        return taken


@pytest.fixture
def server_errors() -> Iterator[ServerErrors]:
    handler = ServerErrors()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def credentials(server: ServerThread, made: Any) -> dict[str, str]:
    """A regular user's access token, with a calculation of theirs to find; the agent key."""
    body = {"username": "fuzzer", "password": PASSWORD}
    assert call(server.url, "POST", "/users", made.token, json=body).status_code == 201
    token = sign_in(server.url, "fuzzer", PASSWORD)
    submitted = call(server.url, "POST", "/calculations", token, json={"command": ["true"]})
    assert submitted.status_code == 201, submitted.text
    return {"user": token, "agent": made.agent_key}


def fuzz(
    operation: Any,
    url: str,
    headers: dict[str, str],
    found: dict[str, str],
    errors: ServerErrors,
    db_kind: str,
) -> None:
    """Send ``operation`` its generated requests; note the first that gets a 5xx in ``found``."""
    from schemathesis import GenerationMode

    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    strategy = st.one_of(*[operation.as_strategy(generation_mode=mode) for mode in modes])

    @settings(
        max_examples=EXAMPLES * len(modes),
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def send(case: Any) -> None:
        _bounded(case)
        if operation.label in found:
            return
        response = case.call(base_url=url, headers=headers, timeout=10)
        if response.status_code >= 500:
            found[operation.label] = (
                f"{operation.label}: {response.status_code} {response.text[:300]}\n"
                f"  {case.as_curl_command(headers=headers)}\n{errors.take()}"
            )

    send()


def test_no_generated_request_gets_a_server_error(
    server: ServerThread, credentials: dict[str, str], server_errors: ServerErrors, db_kind: str
) -> None:
    import schemathesis
    from schemathesis.config import SchemathesisConfig

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=SchemathesisConfig())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50, "the whole description"
    found: dict[str, str] = {}
    for operation in operations:
        who = "agent" if operation.path.startswith("/api/v1/agent/") else "user"
        fuzz(
            operation,
            server.url,
            {"Authorization": f"Bearer {credentials[who]}"},
            found,
            server_errors,
            db_kind,
        )
    assert not found, "\n\n".join(found.values())


# -- values the database refuses: a clear 404 or 422, never a server error ----------------------

_BIG: list[tuple[str, str, Callable[[int], dict[str, Any]]]] = [
    ("GET", "/calculations/{big}", lambda big: {}),
    ("POST", "/calculations/{big}/cancel", lambda big: {}),
    ("DELETE", "/tokens/{big}", lambda big: {}),
    ("GET", "/results", lambda big: {"params": {"ids": big}}),
    ("POST", "/calculations/wait", lambda big: {"json": {"ids": [big], "timeout": 0}}),
    ("POST", "/calculations", lambda big: {"json": {"command": ["true"], "resources": {"walltime": big}}}),
]


@pytest.mark.parametrize(("method", "path", "fields"), _BIG, ids=[f"{m} {p}" for m, p, _ in _BIG])
def test_a_number_beyond_the_database_integers_is_refused_not_a_server_error(
    server: ServerThread,
    made: Any,
    db_kind: str,
    method: str,
    path: str,
    fields: Callable[[int], dict[str, Any]],
) -> None:
    """2**31 overflows PostgreSQL's INTEGER, 2**63 SQLite's: the answer should be 404 or 422, not 500."""
    big = 2**31 if db_kind == "postgresql" else 2**63
    answer = call(server.url, method, path.format(big=big), made.token, **fields(big))
    assert answer.status_code == 422, answer.text


NUL = "a\x00b"
_NUL: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/auth/login", {"json": {"username": NUL, "password": "anything"}}),
    ("GET", "/calculations", {"params": {"name": NUL}}),
    ("POST", "/calculations", {"json": {"command": ["true"], "name": NUL}}),
    ("POST", "/tokens", {"json": {"name": NUL}}),
    ("GET", "/users/a%00b", {}),
]


@pytest.mark.parametrize(("method", "path", "fields"), _NUL, ids=[f"{m} {p}" for m, p, _ in _NUL])
def test_a_nul_character_is_refused_not_a_server_error(
    server: ServerThread, made: Any, db_kind: str, method: str, path: str, fields: dict[str, Any]
) -> None:
    """Signing in needs no credentials: no one may make the server answer 500 with it.
    (SQLite keeps NUL characters in text; PostgreSQL refuses them, and the answer is 422.)"""
    answer = call(server.url, method, path, made.token, **fields)
    assert answer.status_code < 500, answer.text
    if db_kind == "postgresql":
        assert answer.status_code in {401, 404, 422}, answer.text
