"""A scaffolded model package, served for real: its serve.py in a process of its own, over HTTP.

The model is a tiny linear regression fitted on numpy arrays (a model fitted on a
DataFrame would warn when given the plain rows serve.py hands it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from calchub.models.scaffold import scaffold
from calchub.testing import free_port

pytestmark = pytest.mark.slow

COLUMNS = ["temperature", "density"]
ROWS = [[1.0, 0.8], [1.5, 0.7], [2.25, 0.95]]
#: How long serve.py may take to answer /ping (importing scikit-learn takes about a second).
START_SECONDS = 30.0


@contextmanager
def serving(folder: Path) -> Iterator[httpx.Client]:
    """The package in ``folder`` served by its serve.py on a free port, and a client for it."""
    port = free_port()
    log = folder.parent / f"{folder.name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "serve.py"],
            cwd=folder,
            env=os.environ | {"PORT": str(port), "HOST": "127.0.0.1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            _await_ping(client, process, log)
            yield client
    finally:
        process.kill()
        process.wait()


def _await_ping(client: httpx.Client, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve.py exited with {process.returncode}:\n{log.read_text()}")
        try:
            if client.get("/ping").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.02)  # a port that opens sends no event to wait for
    pytest.fail(f"serve.py did not answer /ping within {START_SECONDS} s:\n{log.read_text()}")


def _trained(folder: Path, outputs: int = 1) -> tuple[LinearRegression, Path]:
    rng = np.random.default_rng(7)
    features = rng.uniform(0.5, 2.5, size=(20, 2))
    targets = features @ rng.normal(size=(2, outputs)) + 0.25
    model = LinearRegression().fit(features, targets[:, 0] if outputs == 1 else targets)
    path = folder / "trained.joblib"
    joblib.dump(model, path)
    return model, path


@pytest.fixture(scope="module")
def model_and_client(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LinearRegression, httpx.Client]]:
    folder = tmp_path_factory.mktemp("scaffold")
    model, saved = _trained(folder)
    scaffold(folder / "lj-energy", "lj-energy", model_file=saved, inputs=COLUMNS, outputs=["energy"])
    with serving(folder / "lj-energy") as client:
        yield model, client


@pytest.fixture
def client(model_and_client: tuple[LinearRegression, httpx.Client]) -> httpx.Client:
    return model_and_client[1]


@pytest.fixture
def expected(model_and_client: tuple[LinearRegression, httpx.Client]) -> list[float]:
    predictions: list[float] = model_and_client[0].predict(np.array(ROWS)).tolist()
    return predictions


def _post(client: httpx.Client, content_type: str, body: str | Any) -> httpx.Response:
    text = body if isinstance(body, str) else json.dumps(body)
    return client.post("/invocations", content=text.encode(), headers={"Content-Type": content_type})


def test_ping_names_the_model(client: httpx.Client) -> None:
    response = client.get("/ping")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "model": "lj-energy"}


@pytest.mark.parametrize(
    "body",
    [
        {"instances": ROWS},
        {"instances": [{"density": d, "temperature": t} for t, d in ROWS]},
        ROWS,
    ],
    ids=["lists", "objects", "bare-list"],
)
def test_json_rows_answer_the_models_predictions(
    client: httpx.Client, expected: list[float], body: Any
) -> None:
    response = _post(client, "application/json", body)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": pytest.approx(expected)}


@pytest.mark.parametrize(
    "csv",
    [
        "".join(f"{t},{d}\n" for t, d in ROWS),
        "density,temperature\r\n" + "".join(f"{d},{t}\r\n" for t, d in ROWS),
    ],
    ids=["rows", "header-in-another-order"],
)
def test_csv_rows_answer_a_line_a_row(client: httpx.Client, expected: list[float], csv: str) -> None:
    response = _post(client, "text/csv; charset=utf-8", csv)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv"
    assert [float(line) for line in response.text.splitlines()] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("content_type", "body", "status", "says"),
    [
        ("application/json", {"instances": [{"temperature": 1.0}]}, 400, "lacks the column(s) density"),
        ("application/json", '{"instances": [[1.0, 0.8]', 400, "not JSON"),
        ("application/json", {"instances": [[1.0, "warm"]]}, 400, "'warm' is not a number"),
        ("application/json", {"rows": ROWS}, 400, '{"instances": [row, ...]}'),
        ("text/csv", "1.0,0.8,3.0\n", 400, "line 1 has 3 values; the model takes 2 (temperature, density)"),
        ("text/csv", "density\n0.8\n", 400, "lacks the column(s) temperature"),
        ("text/plain", "1.0,0.8", 415, "send application/json or text/csv"),
    ],
    ids=["missing-column", "bad-json", "not-a-number", "no-instances", "too-many-values", "header", "type"],
)
def test_a_bad_request_says_what_to_fix(
    client: httpx.Client, content_type: str, body: Any, status: int, says: str
) -> None:
    response = _post(client, content_type, body)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert says in response.json()["error"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unknown_path_is_404(client: httpx.Client, method: str) -> None:
    response = client.request(method, "/predict", content=b"[[1.0, 0.8]]")

    assert response.status_code == 404
    assert "error" in response.json()


def test_a_failing_model_answers_500_and_the_server_serves_on(client: httpx.Client) -> None:
    response = _post(client, "text/csv", "nan,0.8\n")  # LinearRegression refuses NaN

    assert response.status_code == 500
    assert "the model failed" in response.json()["error"]
    assert client.get("/ping").status_code == 200


def test_one_kept_alive_connection_serves_many_requests(
    model_and_client: tuple[LinearRegression, httpx.Client], expected: list[float]
) -> None:
    # Every kind of answer leaves the connection ready for the next request.
    kinds = [
        ("POST", "/invocations", "application/json", json.dumps({"instances": ROWS}), 200),
        ("POST", "/invocations", "text/csv", "1.0,warm\n", 400),
        ("GET", "/ping", "text/plain", "a body that GET does not need", 200),
        ("POST", "/predict", "application/json", "[[1.0, 0.8]]", 404),
        ("POST", "/invocations", "text/plain", "1.0,0.8", 415),
    ]
    sent = [kinds[i % len(kinds)] for i in range(50)]
    with httpx.Client(base_url=model_and_client[1].base_url, timeout=10) as client:
        responses = [
            client.request(method, path, content=body.encode(), headers={"Content-Type": content_type})
            for method, path, content_type, body, _ in sent
        ]
        ends = {r.extensions["network_stream"].get_extra_info("client_addr") for r in responses}

    assert [r.status_code for r in responses] == [status for *_, status in sent]
    assert len(ends) == 1
    answers = [r.json() for r in responses if r.url.path == "/invocations" and r.status_code == 200]
    assert answers == [{"predictions": pytest.approx(expected)}] * 10


def test_a_model_with_several_outputs_answers_a_list_a_row(tmp_path: Path) -> None:
    model, saved = _trained(tmp_path, outputs=2)
    scaffold(tmp_path / "two", "two", model_file=saved, outputs=["energy", "pressure"])
    expected = model.predict(np.array(ROWS))

    with serving(tmp_path / "two") as client:
        as_json = _post(client, "application/json", {"instances": ROWS})
        as_csv = _post(client, "text/csv", "".join(f"{t},{d}\n" for t, d in ROWS))

    assert as_json.status_code == as_csv.status_code == 200
    assert [len(row) for row in as_json.json()["predictions"]] == [2, 2, 2]
    assert np.allclose(as_json.json()["predictions"], expected)
    assert np.allclose(
        [[float(cell) for cell in line.split(",")] for line in as_csv.text.splitlines()], expected
    )


# TorchScript is deprecated in recent torch releases (a DeprecationWarning on script and save);
# it is still the format the torch package loads.
@pytest.mark.filterwarnings(r"ignore:.*torch\.jit:DeprecationWarning")
def test_a_torch_model_serves(tmp_path: Path) -> None:
    torch = pytest.importorskip(
        "torch", reason="torch is not installed; the torch package's real run needs it"
    )
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    torch.jit.save(torch.jit.script(net), str(tmp_path / "net.pt"))
    with torch.no_grad():
        expected = net(torch.tensor(ROWS, dtype=torch.float32))[:, 0].tolist()
    scaffold(tmp_path / "net", "net", "torch", model_file=tmp_path / "net.pt", inputs=COLUMNS)

    with serving(tmp_path / "net") as client:
        as_json = _post(
            client, "application/json", {"instances": [dict(zip(COLUMNS, r, strict=True)) for r in ROWS]}
        )
        as_csv = _post(client, "text/csv", "".join(f"{t},{d}\n" for t, d in ROWS))

    assert as_json.status_code == as_csv.status_code == 200
    assert as_json.json()["predictions"] == pytest.approx(expected, rel=1e-6)
    assert [float(line) for line in as_csv.text.splitlines()] == pytest.approx(expected, rel=1e-6)
