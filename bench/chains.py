"""What a chain costs: pairs of calculations where the second waits for the first and takes its
file, against the same pairs run unchained.

Starts a real server (SQLite) and a real local agent. Each round runs N pairs as a swept
two-step pipeline (one request): the first step writes a file, the second waits until it has
completed, is released by the chain follower with the file linked in, and reads it. The
baseline, in the same round, is the same 2 x N commands in one batch with no links (the
second of each pair given the file as an upload). Rounds alternate the two; the figures are
medians.

    python bench/chains.py [-n 200] [--rounds 3] [--cores 2]

The last line printed is the result:
chained_per_s=... plain_per_s=... ratio=... pairs=...
Target on a 2-core machine: ratio >= 0.5 (a chain at most doubles the cost of its work).
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

TARGET = 0.5
WRITE = ["sh", "-c", "echo 42 > x.txt"]
READ = ["sh", "-c", "test $(cat x.txt) = 42"]


def chained(client: Client, pairs: int, study: str) -> float:
    pipeline = {
        "parameters": {"k": 0},
        "steps": {
            "write": {"command": WRITE, "env": {"K": "${k}"}},
            "read": {"command": READ, "after": [{"step": "write", "files": ["x.txt"]}]},
        },
    }
    began = time.perf_counter()
    client.create_study(
        study, pipeline=pipeline, space={"product": [{"input": "k", "values": list(range(pairs))}]}
    )
    done = client.wait_all([c.id for c in client.iter(study=study)], timeout=600)
    elapsed = time.perf_counter() - began
    assert all(c.state == "completed" for c in done), {c.state for c in done}
    return len(done) / elapsed


def plain(client: Client, pairs: int) -> float:
    given = [{"path": "x.txt", "content": "42\n"}]
    batch = [{"command": WRITE, "name": f"write {k}"} for k in range(pairs)]
    batch += [{"command": READ, "name": f"read {k}", "files": given} for k in range(pairs)]
    began = time.perf_counter()
    made = client.submit_many(batch)
    done = client.wait_all([c.id for c in made], timeout=600)
    elapsed = time.perf_counter() - began
    assert all(c.state == "completed" for c in done), {c.state for c in done}
    return len(done) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="pairs per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="calchub-bench-"))
    processes = start(home, free_port(), cores=args.cores)
    try:
        client = _client(home)
        chained(client, 5, "warm-up")
        rounds = [(chained(client, args.n, f"round-{r}"), plain(client, args.n)) for r in range(args.rounds)]
    finally:
        stop(processes)
    for r, (c, p) in enumerate(rounds, 1):
        print(f"round {r}: chained {c:.0f}/s, plain {p:.0f}/s", file=sys.stderr)
    chained_rate = statistics.median(c for c, _ in rounds)
    plain_rate = statistics.median(p for _, p in rounds)
    ratio = chained_rate / plain_rate
    print(
        f"chained_per_s={chained_rate:.0f} plain_per_s={plain_rate:.0f} ratio={ratio:.2f} "
        f"pairs={args.n} target_ratio={TARGET}"
    )


if __name__ == "__main__":
    main()
