"""What a calculation type costs: typed calculations against the same work as plain commands.

Starts a real server (SQLite) and a real local agent as separate processes.
Each round submits N plain calculations running a tiny shell script that
writes ``results.json``, waits for them, then submits N ``shell``-typed
calculations of the same script and waits for them. The typed ones are also
checked against the schema, rendered, post-processed on the agent (validated,
results extracted, clean-up) and their results stored. The ratio is the median
of the round-by-round ratios.

    python bench/typed.py [-n 300] [--rounds 3]

The last line printed is the result:
typed_per_s=... plain_per_s=... ratio=... extra_ms_per_calc=...
Target on a 2-core machine: ratio >= 0.5 (a type at most doubles the cost of a trivial run).
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

RESULTS = '{"energy": {"value": -1.5, "unit": "eV"}, "n": 3}'
SCRIPT = f"echo '{RESULTS}' > results.json; touch raw.tmp"


def timed(client: Client, requests: list[dict[str, object]]) -> float:
    began = time.perf_counter()
    calcs = client.submit_many(requests)
    done = client.wait_all([c.id for c in calcs], timeout=600)
    elapsed = time.perf_counter() - began
    bad = [c for c in done if c.state != "completed"]
    if bad:
        raise SystemExit(f"{len(bad)} calculations did not complete: {bad[0].state} {bad[0].message}")
    return len(requests) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    plain = [{"command": ["sh", "-c", SCRIPT], "outputs": ["results.json"]} for _ in range(args.n)]
    typed = [{"type": "shell", "inputs": {"script": SCRIPT}} for _ in range(args.n)]
    with tempfile.TemporaryDirectory(prefix="calchub-bench-") as home:
        processes = start(Path(home), free_port(), args.cores)
        try:
            client = _client(Path(home))
            timed(client, typed[:20])  # warm up both paths
            rounds = []
            for number in range(args.rounds):
                plain_rate = timed(client, plain)
                typed_rate = timed(client, typed)
                rounds.append((typed_rate, plain_rate))
                print(
                    f"round {number + 1}: typed {typed_rate:.1f}/s plain {plain_rate:.1f}/s", file=sys.stderr
                )
            sample = client.list(limit=1)[0]
            assert [s.name for s in client.results(sample.id).scalars] == ["energy", "n"]
        finally:
            stop(processes)
    ratio = statistics.median(t / p for t, p in rounds)
    typed_rate = statistics.median(t for t, _ in rounds)
    plain_rate = statistics.median(p for _, p in rounds)
    extra = 1000 * (1 / typed_rate - 1 / plain_rate) * args.cores
    print(
        f"typed_per_s={typed_rate:.1f} plain_per_s={plain_rate:.1f} ratio={ratio:.3f} "
        f"extra_ms_per_calc={extra:.1f}"
    )


if __name__ == "__main__":
    main()
