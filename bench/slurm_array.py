"""N trivial calculations through calchub and Slurm, against the same N tasks given straight to Slurm.

Starts a real server (SQLite) and a real agent with the Slurm executor as
separate processes, registers a Slurm cluster, and times N calculations of
`true` submitted in one batch (the agent sends them as one job array) until
all have completed. In the same run it times `sbatch --array=0-(N-1) --wrap
true` until squeue has forgotten every task. Needs a Slurm cluster
(`scripts/slurm-dev start`, as root).

    python bench/slurm_array.py [-n 200]

The last line printed is the result:
calcs_per_s=... raw_per_s=... ratio=...
Target: ratio >= 0.8. Slurm itself needs about a second per job on the
single-node development cluster, so both figures are small.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from calchub.client import Client
from calchub.testing import free_port
from throughput import _client, start, stop

POLL_SECONDS = 0.2


def raw_array(n: int) -> float:
    """sbatch --array straight, waiting for the last task the way a script would: polling squeue."""
    began = time.perf_counter()
    done = subprocess.run(
        ["sbatch", "--parsable", f"--array=0-{n - 1}", "-o", "/dev/null", "--wrap", "true"],
        capture_output=True,
        text=True,
        check=True,
    )
    job_id = done.stdout.strip().split(";")[0]
    while True:
        left = subprocess.run(
            ["squeue", "-h", "-r", "-j", job_id, "-t", "PENDING,RUNNING,COMPLETING"],
            capture_output=True,
            text=True,
            check=False,
        )
        if not left.stdout.strip():
            return n / (time.perf_counter() - began)
        time.sleep(POLL_SECONDS)


def through_calchub(client: Client, n: int) -> float:
    began = time.perf_counter()
    calcs = client.submit_many(
        [{"command": ["true"], "cluster": "hpc", "name": f"bench-{i}"} for i in range(n)]
    )
    done = client.wait_all([c.id for c in calcs], timeout=3600)
    elapsed = time.perf_counter() - began
    bad = [c for c in done if c.state != "completed"]
    if bad:
        raise SystemExit(f"{len(bad)} calculations did not complete: {bad[0].state} {bad[0].message}")
    arrays = {(c.provenance.scheduler_id or "").split("_")[0] for c in done}
    print(f"calchub: {n} calculations in {elapsed:.1f} s as {len(arrays)} Slurm submission(s)")
    return n / elapsed


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("-n", type=int, default=200, help="calculations (and array tasks)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="calchub-bench-") as tmp:
        home = Path(tmp)
        processes = start(home, free_port(), 1, agent=False)
        try:
            with _client(home) as client:
                client.register_cluster("hpc", executor="slurm", slurm={"poll_seconds": POLL_SECONDS})
                key = client.issue_agent_key("hpc").key
                processes += start_agent(home, client.url, key)
                raw = raw_array(args.n)
                print(f"raw: {args.n} array tasks at {raw:.2f}/s")
                calchub = through_calchub(client, args.n)
        finally:
            stop(processes)
    ratio = calchub / raw
    print(f"target: ratio >= 0.8 ({'met' if ratio >= 0.8 else 'MISSED'}); n={args.n}")
    print(f"calcs_per_s={calchub:.2f} raw_per_s={raw:.2f} ratio={ratio:.3f}")


def start_agent(home: Path, url: str, key: str) -> list[subprocess.Popen[bytes]]:
    import os
    import sys

    env = {**os.environ, "CALCHUB_HOME": str(home), "CALCHUB_LOG_LEVEL": "warning"}
    argv = [sys.executable, "-m", "calchub", "agent", "--executor", "slurm", "--url", url, "--key", key]
    argv += ["--root", str(home / "slurm-work"), "--name", "bench-login"]
    return [subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]


if __name__ == "__main__":
    main()
