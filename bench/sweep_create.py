"""How fast a sweep is made: one request, a 10,000-point study, every calculation queued.

Starts a real server (SQLite) with no agent, so what is made stays queued, and
creates a sweep of the ``shell`` type over a product of two axes (100 x 100
points) with ``POST /studies``: each point is checked against the type's
schema, rendered, stored with its files and queued, all in one transaction.
The baseline, in the same run, is the same number of plain commands in one
``POST /calculations/batch``. Rounds alternate the two; the figures are medians.

    python bench/sweep_create.py [--side 100] [--rounds 3]

The last line printed is the result:
points_per_s=... plain_per_s=... ratio=... points=...
Target on a 2-core machine: points_per_s >= 5000 (a 10,000-point sweep in under 2 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from calchub.client import Client
from calchub.testing import free_port
from throughput import _client, start, stop

TARGET = 5000
TEMPLATE = {
    "type": "shell",
    "name": "point",
    "inputs": {
        "script": "echo {{ a }} {{ b }}",
        "parameters": {"a": {"type": "integer", "value": 0}, "b": {"type": "integer", "value": 0}},
    },
}


def swept(client: Client, side: int, study: str) -> float:
    values = list(range(side))
    axes = [{"input": f"parameters.{p}.value", "values": values} for p in ("a", "b")]
    began = time.perf_counter()
    made = client.sweep(study, TEMPLATE, product=axes)
    elapsed = time.perf_counter() - began
    assert made.count == side * side
    return made.count / elapsed


def plain(client: Client, count: int) -> float:
    began = time.perf_counter()
    made = client.submit_many([{"command": ["echo", str(i)], "name": f"plain-{i}"} for i in range(count)])
    return len(made) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=100, help="values on each of the two axes")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="calchub-bench-"))
    processes = start(home, free_port(), cores=1, agent=False)
    try:
        client = _client(home)
        swept(client, 5, "warm-up")
        rounds = [
            (swept(client, args.side, f"round-{n}"), plain(client, args.side**2)) for n in range(args.rounds)
        ]
    finally:
        stop(processes)
    for n, (s, p) in enumerate(rounds, 1):
        print(f"round {n}: sweep {s:.0f} points/s, plain batch {p:.0f}/s", file=sys.stderr)
    points = statistics.median(s for s, _ in rounds)
    baseline = statistics.median(p for _, p in rounds)
    print(
        f"points_per_s={points:.0f} plain_per_s={baseline:.0f} ratio={points / baseline:.2f} "
        f"points={args.side**2} target_points_per_s={TARGET}"
    )


if __name__ == "__main__":
    main()
