"""The Slurm executor against the real single-node cluster of scripts/slurm-dev.

The server runs in this process (both databases); the agent's Slurm executor
calls the real sbatch, squeue and scancel.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from calchub.agent.executors.slurm import SlurmExecutor
from calchub.agent.loop import Agent
from calchub.agent.settings import AgentSettings
from calchub.client import Client
from calchub.testing import ServerThread
from tests.integration.helpers import running


def _slurm_answers() -> bool:
    if shutil.which("sbatch") is None:
        return False
    done = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, check=False)
    return "UP" in done.stdout


pytestmark = pytest.mark.skipif(
    not _slurm_answers(),
    reason="no Slurm cluster answers here: `scripts/slurm-dev start` (root) starts one; scripts/test does",
)
SETTINGS = {"poll_seconds": 0.2, "default_partition": "debug", "setup": ["export FROM_SETUP=yes"]}


@pytest.fixture
def hpc(db_kind: str, client: Client) -> Iterator[str]:
    """A Slurm cluster named `hpc` and a key for its agent."""
    if db_kind != "sqlite":
        pytest.skip(
            "Slurm jobs take seconds each: these run once, on SQLite (both databases are tested elsewhere)"
        )
    client.register_cluster("hpc", "the development cluster", executor="slurm", slurm=SETTINGS)
    yield client.issue_agent_key("hpc").key


@pytest.fixture
def agent_for(server: ServerThread, hpc: str, tmp_path: Path) -> Callable[[], Agent]:
    settings = AgentSettings(url=server.url, key=hpc, root=tmp_path / "agent", name="login1", cores=64)
    return lambda: Agent(settings, executor=SlurmExecutor())


def _scenario(agent: Agent, work: Callable[[], Any]) -> Any:
    async def go() -> Any:
        async with running(agent):
            return await asyncio.to_thread(work)

    return asyncio.run(go())


def test_runs_complete_with_their_output_and_fail_with_their_exit_code(
    client: Client, agent_for: Callable[[], Agent]
) -> None:
    def work() -> list[Any]:
        good = client.submit(
            ["sh", "-c", "echo hello from $SLURM_JOB_ID; echo $FROM_SETUP > out.txt"],
            cluster="hpc",
            outputs=["out.txt"],
        )
        bad = client.submit(["sh", "-c", "echo oops >&2; exit 3"], cluster="hpc")
        return client.wait_all([good.id, bad.id], timeout=60)

    good, bad = _scenario(agent_for(), work)
    assert good.state == "completed", good.message
    job_id = good.provenance.scheduler_id
    assert job_id and (job_id.isdigit() or "_" in job_id)
    assert client.logs(good.id).startswith("hello from ")
    assert [f.path for f in client.files(good.id) if f.kind == "output"] == ["out.txt"]
    # A job Slurm starts before the agent's first look at it goes straight to running.
    states = [e.to_state for e in client.events(good.id)]
    assert states[:2] == ["queued", "claimed"] and states[2] in {"submitted", "running"}, states
    assert "running" in states, states
    assert (bad.state, bad.exit_code) == ("failed", 3)
    assert client.logs(bad.id, "stderr") == "oops\n"


def test_a_typed_calculation_is_post_processed_after_its_slurm_job(
    client: Client, agent_for: Callable[[], Agent]
) -> None:
    script = (
        'echo "{\\"energy\\": {\\"value\\": -2.5, \\"unit\\": \\"eV\\"}}" > results.json; echo raw > big.tmp'
    )

    def work() -> Any:
        calc = client.submit(type="shell", inputs={"script": script}, cluster="hpc")
        return client.wait(calc.id, timeout=60)

    done = _scenario(agent_for(), work)
    assert done.state == "completed", done.message
    assert [(s.name, s.value, s.unit) for s in client.results(done.id).scalars] == [("energy", -2.5, "eV")]
    assert [e.to_state for e in client.events(done.id)][-2:] == ["postprocessing", "completed"]


def test_a_pending_job_shows_its_reason_and_cancel_reaches_scancel(
    client: Client, agent_for: Callable[[], Agent]
) -> None:
    def work() -> tuple[Any, Any, str]:
        calc = client.submit(["true"], cluster="hpc", resources={"partition": "closed"})
        waiting = _until(client, calc.id, lambda c: c.state == "submitted")
        client.cancel(calc.id)
        # The agent hears of the cancel and calls scancel: Slurm's own record shows it.
        job_id = waiting.provenance.scheduler_id
        gone = _eventually(
            lambda: _slurm_state(job_id) in {"CANCELLED", ""} and (_slurm_state(job_id) or "gone")
        )
        return waiting, client.get(calc.id), gone

    waiting, cancelled, gone = _scenario(agent_for(), work)
    assert waiting.message == "pending in the queue: PartitionDown"
    assert cancelled.state == "cancelled"
    assert gone in {"CANCELLED", "gone"}


def test_a_job_over_its_time_limit_is_a_timeout(client: Client, agent_for: Callable[[], Agent]) -> None:
    def work() -> Any:
        calc = client.submit(["sleep", "300"], cluster="hpc", resources={"walltime": 1})
        return client.wait(calc.id, timeout=180)

    done = _scenario(agent_for(), work)
    assert done.state == "failed"
    assert done.message == "timeout: Slurm stopped the job at its time limit"


def test_an_agent_restarted_mid_job_reattaches_and_the_job_completes_once(
    client: Client, agent_for: Callable[[], Agent], tmp_path: Path
) -> None:
    gate = tmp_path / "go"

    async def go() -> Any:
        first = agent_for()
        async with running(first):
            calc = await asyncio.to_thread(
                client.submit,
                ["sh", "-c", f"echo started; while [ ! -e {gate} ]; do sleep 0.1; done; echo finished"],
                cluster="hpc",
            )
            started = await asyncio.to_thread(_until, client, calc.id, lambda c: c.state == "running")
            # The log streams from Slurm's output file while the job runs.
            await asyncio.to_thread(_eventually, lambda: client.logs(calc.id) == "started\n")
        # The first agent has stopped; the job runs on in Slurm.
        assert _slurm_state(started.provenance.scheduler_id) == "RUNNING"
        gate.touch()
        second = agent_for()
        async with running(second):
            done = await asyncio.to_thread(client.wait, calc.id, 60)
        return started, done, second

    started, done, second = asyncio.run(go())
    assert done.state == "completed", done.message
    assert (done.attempt, done.provenance.scheduler_id) == (1, started.provenance.scheduler_id)
    assert second.executor.submissions == 0  # type: ignore[union-attr]
    assert client.logs(done.id) == "started\nfinished\n"
    assert [e.to_state for e in client.events(done.id)].count("claimed") == 1


def test_a_batch_of_fifty_goes_to_slurm_as_one_job_array(
    client: Client, agent_for: Callable[[], Agent]
) -> None:
    agent = agent_for()

    def work() -> list[Any]:
        calcs = client.submit_many(
            [{"command": ["true"], "cluster": "hpc", "name": f"a{i}"} for i in range(50)]
        )
        return client.wait_all([c.id for c in calcs], timeout=240)

    done = _scenario(agent, work)
    assert {c.state for c in done} == {"completed"}
    arrays = {c.provenance.scheduler_id.split("_")[0] for c in done if c.provenance.scheduler_id}
    assert len(arrays) == 1, arrays
    assert agent.executor.submissions == 1  # type: ignore[union-attr]


def test_the_script_users_read_is_the_one_that_ran(client: Client, agent_for: Callable[[], Agent]) -> None:
    request = {
        "command": ["python3", "-c", "print('x')"],
        "cluster": "hpc",
        "name": 'evil"name\n#SBATCH --partition=closed $(touch /tmp/pwned)',
        "resources": {"cores": 1, "memory": "100M", "walltime": "00:05:00", "partition": "short"},
    }
    preview = client.preview(request)
    assert preview.script is not None and "#SBATCH --partition=short" in preview.script
    assert "#SBATCH --partition=closed" not in preview.script.splitlines()

    def work() -> Any:
        calc = client.submit(request)
        return client.wait(calc.id, timeout=60)

    done = _scenario(agent_for(), work)
    assert done.state == "completed", done.message
    ran = (Path(done.provenance.workdir or "") / ".calchub" / "job.sh").read_text()
    assert client.script(done.id) == ran
    assert (
        "#SBATCH --cpus-per-task=1" in ran
        and "#SBATCH --mem=100M" in ran
        and "#SBATCH --time=00:05:00" in ran
    )
    assert not Path("/tmp/pwned").exists()


def test_the_partition_table_comes_with_the_heartbeat(client: Client, agent_for: Callable[[], Agent]) -> None:
    def work() -> Any:
        return _until_cluster(client, "hpc", lambda c: c.partitions)

    cluster = _scenario(agent_for(), work)
    debug = next(p for p in cluster.partitions if p.name == "debug")
    assert debug.default and debug.state == "up" and debug.cpus_total >= 1 and debug.nodes_total == 1
    assert {p.name for p in cluster.partitions} >= {"debug", "short", "closed"}


def _until(client: Client, calc_id: int, check: Callable[[Any], bool], timeout: float = 60) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while True:
        calc = client.get(calc_id)
        if check(calc):
            return calc
        if time.monotonic() > deadline:
            pytest.fail(f"calculation {calc_id} stayed {calc.state} ({calc.message})")
        time.sleep(0.1)


def _until_cluster(client: Client, name: str, check: Callable[[Any], Any], timeout: float = 30) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while not check(cluster := client.cluster(name)):
        if time.monotonic() > deadline:
            pytest.fail(f"cluster {name} never had: {cluster}")
        time.sleep(0.1)
    return cluster


def _eventually(check: Callable[[], Any], timeout: float = 30) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.1)
    return found


def _slurm_state(job_id: str | None) -> str:
    done = subprocess.run(
        ["squeue", "-h", "--states=all", "-j", str(job_id), "-o", "%T"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


def test_a_sweep_reaches_slurm_as_one_job_array(client: Client, agent_for: Callable[[], Agent]) -> None:
    agent = agent_for()
    template = {
        "type": "python",
        "cluster": "hpc",
        "name": "square",
        "inputs": {"code": "def main(x):\n    return {'y': x * x}\n", "function": "main", "kwargs": {"x": 0}},
    }

    def work() -> list[Any]:
        made = client.sweep("squares", template, product=[{"input": "kwargs.x", "values": list(range(20))}])
        return client.wait_all(list(range(made.first_id or 0, (made.last_id or 0) + 1)), timeout=240)

    done = _scenario(agent, work)
    assert {c.state for c in done} == {"completed"}, {c.message for c in done}
    assert len({c.provenance.scheduler_id.split("_")[0] for c in done if c.provenance.scheduler_id}) == 1
    squares = [next(s.value for s in client.results(c.id).scalars if s.name == "y") for c in done]
    assert squares == [x * x for x in range(20)]


def test_the_example_pipeline_runs_on_slurm_by_changing_only_the_cluster(
    client: Client, agent_for: Callable[[], Agent]
) -> None:
    from calchub.contracts import pipelines

    example = Path(__file__).parents[2] / "examples" / "pipelines" / "table_integrate" / "pipeline.yaml"
    loaded = pipelines.with_cluster(pipelines.load(example), "hpc")
    agent = agent_for()

    def work() -> list[Any]:
        client.create_study(
            "on-slurm", pipeline=loaded.spec, space={"product": [{"input": "n", "values": [11, 101]}]}
        )
        return client.wait_all([c.id for c in client.list(study="on-slurm")], timeout=240)

    done = _scenario(agent, work)
    assert [c.state for c in done] == ["completed"] * 4, [c.message for c in done]
    assert {c.cluster for c in done} == {"hpc"} and all(c.provenance.scheduler_id for c in done)
    errors = [
        s.value
        for c in done
        if c.step and c.step.startswith("integrate")
        for s in client.results(c.id).scalars
        if s.name == "error"
    ]
    assert len(errors) == 2 and all(e is not None and e < 0.02 for e in errors)
