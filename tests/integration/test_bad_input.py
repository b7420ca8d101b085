"""Bad requests are refused with a status that says why, and leave nothing half-written."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from calchub.client import Client, Conflict, NotFound, TooLarge
from calchub.client.agent import AgentClient
from calchub.server.settings import Settings
from calchub.testing import ServerThread
from tests.integration.helpers import claim, count


def _post(server: ServerThread, made: Any, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {made.token}", **kwargs.pop("headers", {})}
    return httpx.post(f"{server.url}/api/v1{path}", headers=headers, timeout=30, **kwargs)


def _stored_files(settings: Settings) -> list[Path]:
    root = settings.resolved_storage_dir()
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_malformed_json_is_422(server: ServerThread, made: Any, client: Client) -> None:
    for body in [b'{"command": ["true"]', b"not json at all", b""]:
        answer = _post(
            server, made, "/calculations", content=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 422, body
    assert count(client) == 0


BAD_FIELDS: list[tuple[dict[str, Any], list[Any]]] = [
    ({"command": ["true"], "priority": 5000}, ["body", "priority"]),
    ({"command": []}, ["body", "command"]),
    ({"command": ["true"], "resources": {"memory": "lots"}}, ["body", "resources", "memory"]),
    ({"command": ["true"], "outputs": ["../etc/passwd"]}, ["body", "outputs"]),
    ({"command": ["true"], "files": [{"path": "/abs", "content": ""}]}, ["body", "files", 0, "path"]),
    ({"command": ["true"], "colour": "red"}, ["body", "colour"]),
]


def test_a_bad_field_is_422_naming_it(server: ServerThread, made: Any, client: Client) -> None:
    for body, loc in BAD_FIELDS:
        answer = _post(server, made, "/calculations", json=body)
        assert answer.status_code == 422, body
        assert [d["loc"] for d in answer.json()["detail"]] == [loc]
    assert count(client) == 0


def test_an_unknown_cluster_is_404(client: Client) -> None:
    with pytest.raises(NotFound) as raised:
        client.submit(["true"], cluster="nowhere")
    assert raised.value.field == "cluster"
    assert "nowhere" in raised.value.message
    assert count(client) == 0


def test_a_disabled_cluster_takes_and_hands_out_no_work_until_enabled_again(
    server: ServerThread, made: Any, client: Client
) -> None:
    queued = client.submit(["true"])
    assert client.set_cluster_enabled("local", False).enabled is False
    with pytest.raises(Conflict) as raised:
        client.submit(["true"])
    assert raised.value.field == "cluster"
    assert "disabled" in raised.value.message
    assert count(client) == 1

    async def claimed() -> list[int]:
        agent = AgentClient(server.url, made.agent_key)
        try:
            return [a.id for a in (await claim(agent)).calculations]
        finally:
            await agent.close()

    assert asyncio.run(claimed()) == []
    assert client.set_cluster_enabled("local", True).enabled is True
    assert asyncio.run(claimed()) == [queued.id]
    assert client.submit(["true"]).state == "queued"


def test_a_batch_with_one_bad_item_creates_none(
    server: ServerThread, made: Any, client: Client, settings: Settings
) -> None:
    client.submit(["true"], name="before", files={"kept.txt": "kept"})
    files_before = _stored_files(settings)
    good = {"command": ["true"], "files": [{"path": "in.txt", "content": "data"}]}
    bad_items: list[tuple[dict[str, Any], int]] = [
        ({"command": []}, 422),
        ({"command": ["true"], "cluster": "nowhere"}, 404),
        ({"command": ["true"], "files": [{"path": "b.bin", "content": "@@@", "encoding": "base64"}]}, 422),
    ]
    for bad, status in bad_items:
        answer = _post(server, made, "/calculations/batch", json={"calculations": [good, good, bad, good]})
        assert answer.status_code == status, answer.text
        assert [c.name for c in client.list()] == ["before"]
        assert _stored_files(settings) == files_before, "no input file of a refused batch is kept"
    made_now = client.submit_many([good, good])
    assert len(made_now) == 2


def test_an_oversize_json_body_is_413(server: ServerThread, made: Any, client: Client) -> None:
    content = base64.b64encode(b"x" * (3 * 1024 * 1024 + 1)).decode()  # a little over 4 MiB as JSON
    body = {"command": ["true"], "files": [{"path": "big", "content": content, "encoding": "base64"}]}
    answer = _post(server, made, "/calculations", json=body)
    assert answer.status_code == 413
    assert "CALCHUB_MAX_REQUEST_BYTES" in answer.json()["detail"]
    assert count(client) == 0


def test_a_bad_cursor_or_sort_is_422(client: Client, server: ServerThread, made: Any) -> None:
    headers = {"Authorization": f"Bearer {made.token}"}
    for params in [
        {"cursor": "bm9wZQ=="},
        {"cursor": "!!"},
        {"sort": "colour"},
        {"limit": 0},
        {"state": "x"},
    ]:
        answer = httpx.get(f"{server.url}/api/v1/calculations", params=params, headers=headers)
        assert answer.status_code == 422, params


def test_an_oversize_upload_is_413_and_nothing_is_recorded(
    server: ServerThread, made: Any, client: Client, settings: Settings, tmp_path: Path
) -> None:
    calc = client.submit(["true"])
    limit = settings.max_upload_bytes
    exact, over = tmp_path / "exact.bin", tmp_path / "over.bin"
    exact.write_bytes(b"e" * limit)
    over.write_bytes(b"o" * (limit + 1))

    async def scenario() -> None:
        agent = AgentClient(server.url, made.agent_key)
        try:
            (assignment,) = (await claim(agent)).calculations
            with pytest.raises(TooLarge):
                await agent.upload(calc.id, assignment.attempt, "over.bin", over)

            async def chunks() -> Any:  # no Content-Length: refused while streaming
                for _ in range(limit // 65536 + 1):
                    yield b"s" * 65536

            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {made.agent_key}"}) as raw:
                streamed = await raw.put(
                    f"{server.url}/api/v1/agent/calculations/{calc.id}/files/streamed.bin",
                    params={"attempt": assignment.attempt},
                    content=chunks(),
                )
            assert streamed.status_code == 413
            assert "CALCHUB_MAX_UPLOAD_BYTES" in streamed.json()["detail"]
            with pytest.raises(TooLarge):
                await agent.append_log(calc.id, assignment.attempt, "stdout", 0, b"l" * (limit + 1))
            kept = await agent.upload(calc.id, assignment.attempt, "exact.bin", exact)
            assert kept.size == limit
        finally:
            await agent.close()

    asyncio.run(scenario())
    assert [f.path for f in client.files(calc.id)] == ["exact.bin"]
    outputs = settings.resolved_storage_dir() / "calcs" / str(calc.id) / "outputs"
    assert sorted(p.name for p in outputs.iterdir()) == ["exact.bin"]
    assert client.logs(calc.id) == ""
