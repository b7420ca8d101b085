"""What the inference proxy adds: the same requests straight to a model and through calchub.

Starts a real server (SQLite, no agent) with its process runtime, registers a model package
written to a temporary folder (a scikit-learn LinearRegression scaffolded by
``calchub.models.scaffold`` when both are there, else a standard-library server of the
same sum), starts it and waits until it is healthy. Then, with one kept-alive httpx.Client
for each path, it sends the same small JSON body straight to the model's ``/invocations``
and to ``/api/v1/models/{name}/invocations`` (the admin's token), N of each after a
warm-up, in rounds that alternate the two paths (the one that goes first alternates too),
so that the machine's drift hits both. Every answer must be 200 and the same bytes.

    python bench/model_proxy.py [-n 2000] [--rounds 5] [--keep]

The last line printed is the result:
direct_p50_ms=... proxied_p50_ms=... added_p50_ms=... target_ms=3 ok=yes|no
Target on a 2-core machine: the proxy adds under 3 ms at p50.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from calchub.client import Client, config
from calchub.contracts.models import Model
from calchub.testing import free_port
from throughput import _client, start, stop

TARGET_MS = 3
NAME = "bench-linear"
BODY = json.dumps({"instances": [[1.0, 2.0]]}).encode()
JSON = {"content-type": "application/json"}
#: What the model computes: y = 2 a + 3 b + 1, so 9 for the body above.
WANTED = 9.0
WARM_UP = 200

MANIFEST = f"""\
name: {NAME}
version: "1"
description: y = 2a + 3b + 1, served by the standard library (bench/model_proxy.py)
runtime: process
command: [python, serve.py]
start_seconds: 30
inputs: {{columns: [a, b]}}
outputs: {{columns: [y]}}
"""
SERVE = '''\
"""y = 2a + 3b + 1 behind /ping and /invocations, with the standard library only."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # the answer leaves in one write, not held back by a delayed ACK
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def answer(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.answer(200, {"status": "ok"}) if self.path == "/ping" else self.answer(404, {})

    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        rows = json.loads(data)["instances"]
        self.answer(200, {"predictions": [2 * a + 3 * b + 1 for a, b in rows]})


host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])
ThreadingHTTPServer((host, port), Handler).serve_forever()
'''


def write_package(folder: Path) -> str:
    """A model package in ``folder``; which kind it is."""
    try:
        from sklearn.linear_model import LinearRegression  # type: ignore[import-untyped]

        from calchub.models.scaffold import scaffold
    except ImportError:
        folder.mkdir(parents=True)
        (folder / "calchub-model.yaml").write_text(MANIFEST)
        (folder / "serve.py").write_text(SERVE)
        return "standard library (http.server)"
    import joblib  # type: ignore[import-untyped]

    inputs = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    fitted = LinearRegression().fit(inputs, [2 * a + 3 * b + 1 for a, b in inputs])
    saved = folder.parent / "model.joblib"
    joblib.dump(fitted, saved)
    scaffold(folder, NAME, "sklearn", model_file=saved, inputs=["a", "b"], outputs=["y"])
    return "scikit-learn LinearRegression (calchub.models.scaffold)"


def serve(client: Client, folder: Path) -> Model:
    client.register_model(folder)
    client.start_model(NAME)
    model = client.wait_model(NAME, timeout=120)
    if model.state != "healthy" or model.port is None:
        log = client.model_logs(NAME).text[-2000:]
        raise SystemExit(f"{NAME} is {model.state.value}: {model.message}\n{log}")
    return model


def end_model(client: Client, pids: list[int]) -> None:
    """Stop the model through the API; ``pids`` keeps its process group for ``reap``."""
    with contextlib.suppress(Exception):  # the server may be gone already (Ctrl-C reaches it too)
        model = client.model(NAME)
        if model.pid is not None:
            pids.append(int(model.pid))
        client.stop_model(NAME)
        client.wait_model(NAME, timeout=15)


def reap(pids: list[int]) -> None:
    """The model's processes, if the server could not stop them (it stops them as it stops)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
            print(f"killed the model's process group {pid}, left running", file=sys.stderr)


def timed(http: httpx.Client, url: str, n: int, expected: bytes) -> list[float]:
    """Milliseconds of each of ``n`` invocations; stops at an answer unlike ``expected``."""
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        try:
            answer = http.post(url, content=BODY, headers=JSON)
        except httpx.TransportError as error:
            raise SystemExit(f"{url}: {error!r}") from error
        samples.append((time.perf_counter() - began) * 1000)
        if answer.status_code != 200 or answer.content != expected:
            raise SystemExit(f"{url} answered {answer.status_code} {answer.text[:300]!r}, not {expected!r}")
    return samples


def measure(model: Model, n: int, rounds: int) -> dict[str, list[float]]:
    """Samples of each path, in rounds that alternate them; checks every answer."""
    url, token = config.resolve()
    direct_url = f"http://{model.host or '127.0.0.1'}:{model.port}/invocations"
    proxied_url = f"{url}/api/v1/models/{NAME}/invocations"
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(trust_env=False) as direct, httpx.Client(trust_env=False, headers=auth) as proxied:
        paths = {"direct": (direct, direct_url), "proxied": (proxied, proxied_url)}
        expected = direct.post(direct_url, content=BODY, headers=JSON).content
        got = json.loads(expected)["predictions"]
        if len(got) != 1 or abs(got[0] - WANTED) > 1e-6:
            raise SystemExit(f"the model answered {expected!r}; expected a prediction of {WANTED}")
        for http, target in paths.values():
            timed(http, target, WARM_UP, expected)
        samples: dict[str, list[float]] = {"direct": [], "proxied": []}
        for r in range(rounds):
            order = ["direct", "proxied"] if r % 2 == 0 else ["proxied", "direct"]
            for path in order:
                http, target = paths[path]
                share = n // rounds + (1 if r < n % rounds else 0)
                done = timed(http, target, share, expected)
                samples[path] += done
                print(f"round {r + 1} {path}: p50 {statistics.median(done):.3f} ms", file=sys.stderr)
    return samples


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[89], cuts[98]


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("-n", type=int, default=2000, help="invocations of each path, over all rounds")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each path once per round")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (home, package)")
    args = parser.parse_args()
    if args.n < args.rounds or args.rounds < 1:
        parser.error("-n must be at least --rounds, and --rounds at least 1")
    with contextlib.ExitStack() as stack:
        home = Path(tempfile.mkdtemp(prefix="calchub-bench-"))
        if args.keep:
            stack.callback(print, f"kept {home}", file=sys.stderr)
        else:
            stack.callback(shutil.rmtree, home, ignore_errors=True)
        kind = write_package(home / "package")
        print(f"model: {kind}")
        pids: list[int] = []
        stack.callback(reap, pids)
        stack.callback(stop, start(home, free_port(), cores=1, agent=False))
        client = stack.enter_context(_client(home))
        stack.callback(end_model, client, pids)
        model = serve(client, home / "package")
        samples = measure(model, args.n, args.rounds)
    for path, values in samples.items():
        p50, p90, p99 = percentiles(values)
        print(f"{path}: p50 {p50:.3f} ms, p90 {p90:.3f} ms, p99 {p99:.3f} ms (n={len(values)})")
    direct, proxied = statistics.median(samples["direct"]), statistics.median(samples["proxied"])
    added = proxied - direct
    print(
        f"direct_p50_ms={direct:.3f} proxied_p50_ms={proxied:.3f} added_p50_ms={added:.3f} "
        f"target_ms={TARGET_MS} ok={'yes' if added < TARGET_MS else 'no'}"
    )


if __name__ == "__main__":
    main()
