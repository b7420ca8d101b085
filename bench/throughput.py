"""Throughput and dispatch latency of calchub against a plain Python loop.

Starts a real server (SQLite) and a real local agent as separate processes,
submits N trivial calculations (/bin/true) in one batch and waits for all of
them; just before each such round it times a plain Python loop spawning the
same processes one after another, and the ratio is the median of the
round-by-round ratios (the machine's speed drifts between rounds). Then it
submits calculations one at a time to the idle agent and measures dispatch
latency: from the server accepting the calculation to the agent starting its
process.

    python bench/throughput.py [-n 1000] [--rounds 3] [--dispatch 50]

The last line printed is the result:
calcs_per_s=... raw_per_s=... ratio=... dispatch_p50_ms=... dispatch_p95_ms=...
Targets on a 2-core machine: ratio >= 0.3, dispatch p50 < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from calchub.client import Client
from calchub.testing import free_port


def start(
    home: Path, port: int, cores: int, agent: bool = True, database_url: str | None = None
) -> list[subprocess.Popen[bytes]]:
    """A server (bootstrapped under ``home``, on SQLite there unless ``database_url`` is given)
    and, unless ``agent`` is False, a local agent."""
    env = {**os.environ, "CALCHUB_HOME": str(home), "CALCHUB_LOG_LEVEL": "warning"}
    env.pop("CALCHUB_DATABASE_URL", None)
    if database_url is not None:
        env["CALCHUB_DATABASE_URL"] = database_url
    server = subprocess.Popen(
        [sys.executable, "-m", "calchub.server", "--port", str(port), "--bootstrap"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).is_success:
                break
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start") from None
            time.sleep(0.05)
    if not agent:
        return [server]
    local = subprocess.Popen(
        [sys.executable, "-m", "calchub", "agent", "--cores", str(cores)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return [server, local]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        process.terminate()
        process.wait(30)


def raw_loop(n: int) -> float:
    began = time.perf_counter()
    for _ in range(n):
        subprocess.run(["/bin/true"], check=True)
    return n / (time.perf_counter() - began)


def through_calchub(client: Client, n: int) -> float:
    began = time.perf_counter()
    calcs = client.submit_many([{"command": ["/bin/true"], "name": f"bench-{i}"} for i in range(n)])
    done = client.wait_all([c.id for c in calcs], timeout=600)
    elapsed = time.perf_counter() - began
    failed = [c.id for c in done if c.state != "completed"]
    if failed:
        raise SystemExit(f"{len(failed)} calculations did not complete, e.g. {failed[:5]}")
    return n / elapsed


def dispatch_ms(client: Client, m: int) -> list[float]:
    samples = []
    for i in range(m):
        calc = client.wait(client.submit(["/bin/true"], name=f"dispatch-{i}").id, timeout=60)
        assert calc.started_at is not None, calc
        samples.append((calc.started_at - calc.created_at).total_seconds() * 1000)
    return samples


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("-n", type=int, default=1000, help="calculations in each throughput round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (plain loop, calchub), paired")
    parser.add_argument("--dispatch", type=int, default=50, help="one-at-a-time submissions for latency")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores the agent fills")
    args = parser.parse_args()
    raws, calcs = [], []
    with tempfile.TemporaryDirectory(prefix="calchub-bench-") as tmp:
        home = Path(tmp)
        processes = start(home, free_port(), args.cores)
        try:
            with _client(home) as client:
                through_calchub(client, min(200, args.n))  # warm up: imports, caches, SQLite pages
                # The machine's speed drifts: pair each calchub round with a plain loop run
                # just before it, and compare round by round.
                for _ in range(args.rounds):
                    raws.append(raw_loop(args.n))
                    calcs.append(through_calchub(client, args.n))
                latencies = dispatch_ms(client, args.dispatch)
        finally:
            stop(processes)
    ratio = statistics.median(c / r for c, r in zip(calcs, raws, strict=True))
    p50 = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(f"rounds: calcs_per_s {[round(c) for c in calcs]} raw_per_s {[round(r) for r in raws]}")
    print(
        f"targets: ratio >= 0.3 ({'met' if ratio >= 0.3 else 'MISSED'}), "
        f"dispatch p50 < 50 ms ({'met' if p50 < 50 else 'MISSED'}); n={args.n} cores={args.cores}"
    )
    print(
        f"calcs_per_s={statistics.median(calcs):.1f} raw_per_s={statistics.median(raws):.1f} "
        f"ratio={ratio:.3f} dispatch_p50_ms={p50:.1f} dispatch_p95_ms={p95:.1f}"
    )


def _client(home: Path) -> Client:
    os.environ["CALCHUB_HOME"] = str(home)
    return Client()


if __name__ == "__main__":
    main()
