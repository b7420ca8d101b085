"""A Slurm agent as a real process: SIGKILLed mid-job, started again, the job completes once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.acceptance.conftest import Site, eventually
from tests.integration.test_slurm import pytestmark as needs_slurm

pytestmark = [pytest.mark.slow, needs_slurm]


def test_a_killed_slurm_agent_is_replaced_and_the_job_completes_once(
    local_site: Site, tmp_path: Path
) -> None:
    local_site.start_server()
    client = local_site.client()
    client.register_cluster("hpc", executor="slurm", slurm={"poll_seconds": 0.2})
    key = client.issue_agent_key("hpc").key
    agent_args = ("--executor", "slurm", "--key", key, "--name", "login1", "--root", str(tmp_path / "work"))
    first = local_site.start_agent(*agent_args)

    gate = tmp_path / "gate"
    script = f"echo started; while [ ! -e '{gate}' ]; do sleep 0.1; done; echo finished"
    calc_id = client.submit(["sh", "-c", script], cluster="hpc", name="survivor").id
    eventually(lambda: client.get(calc_id).state == "running", 60, "the Slurm job to run")
    job_id = client.get(calc_id).provenance.scheduler_id

    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    gate.touch()
    second = local_site.start_agent(*agent_args)
    second.wait_for_line(rf"reattached to {job_id} for {calc_id}/1", timeout=30)

    done = client.wait(calc_id, timeout=60)
    assert (done.state, done.attempt, done.provenance.scheduler_id) == ("completed", 1, job_id)
    assert client.logs(calc_id) == "started\nfinished\n"
    assert [e.to_state.value for e in client.events(calc_id)].count("claimed") == 1
