"""How fast one request creates many typed calculations: what a sweep of a type does.

Starts a real server (SQLite) with no agent, so what is submitted stays queued,
and submits N ``shell``-typed calculations of one script whose points differ
by an environment variable, in one ``POST /calculations/batch`` (all or none;
each is checked against the type's schema, rendered and stored with its
input files). The baseline, in the same run, is N plain commands in one batch.
Rounds alternate the two; the figures are medians of the rounds.

    python bench/submit_many.py [-n 2000] [--rounds 3]

The last line printed is the result:
typed_per_s=... plain_per_s=... ratio=... n=...
Target on a 2-core machine: typed at least 5,000 per second (the studies' sweep target).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from calchub.client import Client
from calchub.testing import free_port
from throughput import _client, start, stop

TARGET = 5000


def timed(client: Client, requests: list[dict[str, Any]]) -> float:
    began = time.perf_counter()
    made = client.submit_many(requests)
    elapsed = time.perf_counter() - began
    assert len(made) == len(requests)
    return len(made) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="calculations in each batch")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    typed = [
        {"type": "shell", "inputs": {"script": "echo $POINT"}, "env": {"POINT": str(i)}, "name": f"point-{i}"}
        for i in range(args.n)
    ]
    plain = [{"command": ["echo", str(i)], "name": f"plain-{i}"} for i in range(args.n)]
    home = Path(tempfile.mkdtemp(prefix="calchub-bench-"))
    processes = start(home, free_port(), cores=1, agent=False)
    try:
        client = _client(home)
        timed(client, typed[:50])  # warm-up: the type's templates and the server's caches
        rounds = [(timed(client, typed), timed(client, plain)) for _ in range(args.rounds)]
    finally:
        stop(processes)
    for n, (t, p) in enumerate(rounds, 1):
        print(f"round {n}: typed {t:.0f}/s, plain {p:.0f}/s", file=sys.stderr)
    typed_rate = statistics.median(t for t, _ in rounds)
    plain_rate = statistics.median(p for _, p in rounds)
    print(
        f"typed_per_s={typed_rate:.0f} plain_per_s={plain_rate:.0f} "
        f"ratio={typed_rate / plain_rate:.2f} n={args.n} target_typed_per_s={TARGET}"
    )


if __name__ == "__main__":
    main()
