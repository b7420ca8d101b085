"""Served ML models with real model processes: register, start, predict through the proxy,
restart after a crash, give up after repeated crashes, stop, delete, and keep projects apart.

The model is ``tests/data/models/linear`` (y = 2x + 1, standard library only); ``broken``
exits at once. The server's runtime pings every 0.2 s and restarts after 0.05 s.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from calchub.client import ApiError, Client
from calchub.contracts.models import Model
from calchub.testing import ServerThread
from tests.integration.helpers import cli, model_package

FAST = {"model_ping_seconds": 0.2, "model_backoff_seconds": 0.05, "model_max_failures": 3}
pytestmark = pytest.mark.settings(**FAST)


def _until(client: Client, name: str, test: Callable[[Model], bool], timeout: float = 60) -> Model:
    """The model once ``test`` holds: each look waits (up to 1 s) for its state to change."""
    deadline = time.monotonic() + timeout
    model = client.model(name)
    while not test(model):
        assert time.monotonic() < deadline, f"{name} is still {model.state}: {model.message}"
        body = {"changed_from": model.state.value, "timeout": 1}
        model = Model.model_validate(client._call("POST", f"/models/{name}/wait", json=body).json())
    return model


def _healthy(client: Client, name: str, version: str | None = None) -> None:
    model = client.wait_model(name, version, timeout=60)
    assert model.state == "healthy", (model.state, model.message, client.model_logs(name, version).text)


def test_a_started_model_answers_through_the_proxy_in_json_and_csv(client: Client, tmp_path: Path) -> None:
    made = client.register_model(model_package(tmp_path))
    assert (made.name, made.version, made.state, made.current, made.wanted) == (
        "linear",
        "1",
        "stopped",
        True,
        False,
    )
    with pytest.raises(ApiError) as refused:
        client.predict("linear", {"instances": [[1.0]]})
    assert refused.value.status == 503 and "linear 1 is stopped" in str(refused.value)

    assert client.start_model("linear").wanted
    _healthy(client, "linear")
    assert client.predict("linear", {"instances": [[1.0], [2.5]]}) == {"predictions": [3.0, 6.0]}
    assert client.predict("linear", csv="1\n2\n") == "3\n5\n"
    assert client.predict("linear", {"instances": [[1.0]]}, version="1") == {"predictions": [3.0]}
    # The model's own refusal comes back as it is.
    with pytest.raises(ApiError) as bad:
        client.predict("linear", {"rows": []})
    assert bad.value.status == 400 and "instances" in str(bad.value)

    shown = client.model("linear")
    assert shown.pid and shown.port and shown.last_ping_at and shown.last_healthy_at
    assert shown.restarts == 0 and shown.inputs and shown.inputs.columns == ["x"]
    assert "serving on" in client.model_logs("linear").text


def test_a_killed_model_is_restarted_and_answers_again(client: Client, tmp_path: Path) -> None:
    client.register_model(model_package(tmp_path))
    client.start_model("linear")
    _healthy(client, "linear")
    first = client.model("linear")
    assert first.pid is not None
    os.killpg(int(first.pid), signal.SIGKILL)

    again = _until(client, "linear", lambda m: m.state == "healthy" and m.pid != first.pid)
    assert again.state == "healthy" and again.restarts == 1 and again.pid != first.pid
    assert client.predict("linear", {"instances": [[0.0]]}) == {"predictions": [1.0]}


def test_a_model_that_keeps_crashing_ends_failed_and_its_owner_is_told(
    client: Client, make_user: Callable[..., Client], tmp_path: Path
) -> None:
    alice = make_user("alice")
    alice.register_model(model_package(tmp_path, "broken"))
    alice.start_model("broken")
    failed = alice.wait_model("broken", timeout=60)
    assert failed.state == "failed", (failed.state, failed.message)
    assert failed.failures == 3 and failed.restarts == 2
    assert "exited with code 3" in (failed.message or "") and "left stopped" in (failed.message or "")
    assert "cannot load the model" in alice.model_logs("broken").text
    with pytest.raises(ApiError) as refused:
        alice.predict("broken", {"instances": [[1]]})
    assert refused.value.status == 503 and "failed" in str(refused.value)
    # Starting it again forgives its failures (and it fails again, as it must).
    again = alice.start_model("broken")
    assert (again.state, again.failures, again.restarts) == ("stopped", 0, 0)


def test_stop_ends_the_process_and_delete_is_for_admins(
    client: Client, make_user: Callable[..., Client], tmp_path: Path, server: ServerThread
) -> None:
    bob = make_user("bob")
    bob.register_model(model_package(tmp_path))
    bob.start_model("linear")
    _healthy(bob, "linear")
    pid = int(bob.model("linear").pid or 0)
    stopped = bob.stop_model("linear")
    assert not stopped.wanted
    stopped = bob.wait_model("linear", timeout=30, until=frozenset({"stopped"}))
    assert stopped.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

    with pytest.raises(ApiError) as refused:
        bob.delete_model("linear", "1")
    assert refused.value.status == 403
    folder = Path(server.app.state.hub.store.root) / "models" / str(stopped.id)
    assert (folder / "package" / "serve.py").is_file()
    client.delete_model("linear", "1")
    assert not folder.exists()
    with pytest.raises(ApiError) as gone:
        bob.model("linear")
    assert gone.value.status == 404


def test_versions_each_answer_and_the_current_one_takes_the_name(client: Client, tmp_path: Path) -> None:
    client.register_model(model_package(tmp_path))
    second = client.register_model(model_package(tmp_path, version='"2"', env="{SLOPE: '10'}"))
    assert second.current and not client.model("linear", "1").current
    client.start_model("linear", "1")
    client.start_model("linear", "2")
    _healthy(client, "linear", "1")
    _healthy(client, "linear", "2")
    assert client.predict("linear", {"instances": [[1.0]]}) == {"predictions": [11.0]}
    assert client.predict("linear", {"instances": [[1.0]]}, version="1") == {"predictions": [3.0]}
    client.update_model("linear", "1", current=True)
    assert client.predict("linear", {"instances": [[1.0]]}) == {"predictions": [3.0]}
    assert [m.version for m in client.model_versions("linear")] == ["1", "2"]
    with pytest.raises(ApiError) as refused:
        client.delete_model("linear", "1")
    assert refused.value.status == 409 and "current" in str(refused.value)


def test_models_of_a_project_are_invisible_outside_it(
    client: Client, make_user: Callable[..., Client], tmp_path: Path, server: ServerThread
) -> None:
    carol, dave = make_user("carol"), make_user("dave")
    carol.register_model(model_package(tmp_path))
    carol.start_model("linear")
    _healthy(carol, "linear")
    assert [m.name for m in dave.models()] == []
    for call in (
        lambda: dave.model("linear"),
        lambda: dave.predict("linear", {"instances": [[1]]}),
        lambda: dave.start_model("linear"),
        lambda: dave.model_logs("linear"),
    ):
        with pytest.raises(ApiError) as hidden:
            call()
        assert hidden.value.status == 404
    # A name belongs to one project: dave cannot add a version of carol's model.
    with pytest.raises(ApiError) as taken:
        dave.register_model(model_package(tmp_path, version='"2"'))
    assert taken.value.status == 409 and "another project" in str(taken.value)
    # Without a credential, nothing.
    answer = httpx.post(f"{server.url}/api/v1/models/linear/invocations", json={"instances": [[1]]})
    assert answer.status_code == 401
    assert [m.name for m in client.models()] == ["linear"]


def test_bad_registrations_are_refused_saying_what_to_fix(
    client: Client, tmp_path: Path, server: ServerThread, made: Any
) -> None:
    from calchub.contracts.models import ModelSpec

    def refused(content: bytes, kind: str = "application/zip") -> tuple[int, str]:
        answer = httpx.post(
            f"{server.url}/api/v1/models/package",
            content=content,
            headers={"Authorization": f"Bearer {made.token}", "content-type": kind},
        )
        return answer.status_code, answer.json()["detail"]

    assert refused(b"not a zip") == (422, "the package is not a zip file: File is not a zip file")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "serve.py").write_text("")
    from calchub.models.package import pack

    assert refused(pack(empty))[1] == "the package has no calchub-model.yaml at its top"
    status, detail = refused(pack(model_package(tmp_path, version="'bad version!'")))
    assert status == 422 and "version" in detail
    with pytest.raises(ApiError) as no_image:
        client._call("POST", "/models", json={"name": "c", "version": "1", "runtime": "container"})
    assert no_image.value.status == 422 and "names its image" in str(no_image.value)
    with pytest.raises(ApiError) as no_package:
        client.register_model(ModelSpec(name="p", version="1"))
    assert no_package.value.status == 422 and "package" in str(no_package.value)
    client.register_model(model_package(tmp_path))
    with pytest.raises(ApiError) as twice:
        client.register_model(model_package(tmp_path))
    assert twice.value.status == 409 and "registered already" in str(twice.value)
    # Nothing was left half-written by the refusals.
    assert [(m.name, m.version) for m in client.models()] == [("linear", "1")]
    incoming = Path(server.app.state.hub.store.root) / "models" / ".incoming"
    assert not incoming.exists() or list(incoming.iterdir()) == []


@pytest.mark.settings(model_runtimes=["container"], **FAST)
def test_a_server_that_runs_only_containers_refuses_process_models(client: Client, tmp_path: Path) -> None:
    with pytest.raises(ApiError) as refused:
        client.register_model(model_package(tmp_path))
    assert refused.value.status == 422 and "runtimes container, not process" in str(refused.value)


def test_the_command_line_registers_starts_predicts_and_stops(
    server: ServerThread, made: Any, tmp_path: Path
) -> None:
    package = model_package(tmp_path)
    said = cli(server.url, made.token, "model", "register", str(package), "--start")
    assert "registered linear 1 in ~admin (healthy)" in said
    listed = cli(server.url, made.token, "model", "ls")
    assert "linear" in listed and "healthy" in listed and "1 *" in listed
    assert '"predictions": [\n    5.0\n  ]' in cli(
        server.url, made.token, "model", "predict", "linear", '{"instances": [[2]]}'
    )
    (tmp_path / "x.csv").write_text("1\n3\n")
    assert (
        cli(server.url, made.token, "model", "predict", "linear", "--file", str(tmp_path / "x.csv"))
        == "3\n7\n"
    )
    shown = cli(server.url, made.token, "model", "show", "linear")
    assert "python serve.py" in shown and "restarts" in shown
    assert "serving on" in cli(server.url, made.token, "model", "logs", "linear")
    assert "linear 1 is stopped" in cli(server.url, made.token, "model", "stop", "linear")
    refused = cli(server.url, made.token, "model", "predict", "linear", "not json", code=1)
    assert "not JSON" in refused
    gone = cli(server.url, made.token, "model", "predict", "linear", '{"instances": [[2]]}', code=1)
    assert "linear 1 is stopped" in gone and "503" in gone
    assert "deleted linear 1" in cli(server.url, made.token, "model", "rm", "linear", "1", "--yes")
    broken = tmp_path / "nothing"
    broken.mkdir()
    assert "calchub model scaffold" in cli(server.url, made.token, "model", "register", str(broken), code=1)


def test_a_model_in_its_own_environment_runs_with_that_python(client: Client, tmp_path: Path) -> None:
    package = model_package(tmp_path, python="venv")
    (package / "serve.py").write_text(
        (package / "serve.py")
        .read_text()
        .replace(
            'print(f"serving on',
            'import sys\n    print(f"python {sys.prefix}", flush=True)\n    print(f"serving on',
        )
    )
    client.register_model(package)
    client.start_model("linear")
    _healthy(client, "linear")
    log = client.model_logs("linear").text
    assert "building the model's virtual environment" in log
    assert "/package/.venv\n" in log.split("python ", 1)[1], log
    assert client.predict("linear", {"instances": [[1.0]]}) == {"predictions": [3.0]}
