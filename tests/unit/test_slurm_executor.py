"""The Slurm executor against a fake Slurm: what it runs, when, and what it makes of the answers.

``FakeSlurm`` is the executor's ``command``: it records every call and answers sbatch,
squeue, sacct, scancel and sinfo from a small job table that the tests change.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Coroutine, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest

from calchub.agent.executors import slurm as executor_module
from calchub.agent.executors.base import Job, Outcome
from calchub.agent.executors.slurm import SlurmExecutor, SlurmRun, script_job
from calchub.contracts.calculations import Resources
from calchub.contracts.clusters import SlurmSettings
from calchub.schedulers import slurm

T = TypeVar("T")
SQUEUE = ["squeue", "--me", "-h", "-r", "--states=all", "-o", "%i|%T|%r"]
SACCT = ["sacct", "-n", "-P", "-X", "-o", "JobID,State,ExitCode,Reason", "-j"]
FAST = SlurmSettings(poll_seconds=0.01)


class FakeSlurm:
    """sbatch, squeue, sacct, scancel and sinfo over an in-memory job table.

    A call it does not expect is answered with an error and kept in ``unexpected``
    (every test fails on one); it never raises inside the executor's own tasks.
    """

    made: ClassVar[list[FakeSlurm]] = []

    def __init__(self, first_id: int = 100, cluster: str = "") -> None:
        FakeSlurm.made.append(self)
        self.calls: list[list[str]] = []
        self.unexpected: list[list[str]] = []
        self.cwds: list[Path | None] = []
        #: What squeue lists: job id -> (state, reason).
        self.queue: dict[str, tuple[str, str]] = {}
        #: What sacct still knows: job id -> "State|ExitCode|Reason".
        self.accounting: dict[str, str] = {}
        #: The state and reason squeue shows for a job sbatch just took.
        self.initial = ("PENDING", "Priority")
        self.sbatch_answer: tuple[int, str, str] | None = None
        self.sinfo = ""
        self.next_id = first_id
        self.cluster = cluster
        self._squeued = asyncio.Event()

    def of(self, program: str) -> list[list[str]]:
        return [call for call in self.calls if call[0] == program]

    async def __call__(self, argv: list[str], cwd: Path | None) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        self.cwds.append(cwd)
        program = argv[0]
        if program == "sbatch" and argv[:2] == ["sbatch", "--parsable"]:
            return self._sbatch(argv)
        if argv == SQUEUE:
            self._squeued.set()
            self._squeued = asyncio.Event()
            return 0, "".join(f"{i}|{state}|{reason}\n" for i, (state, reason) in self.queue.items()), ""
        if argv[:-1] == SACCT:
            ids = argv[-1].split(",")
            return 0, "".join(f"{i}|{self.accounting[i]}\n" for i in ids if i in self.accounting), ""
        if program == "scancel" and len(argv) == 2:
            self.queue[argv[1]] = ("CANCELLED", "None")
            return 0, "", ""
        if argv == ["sinfo", "-h", "-o", "%R|%a|%F|%C|%l|%G|%P"]:
            return (0, self.sinfo, "") if self.sinfo else (1, "", "sinfo: error: slurmctld not reachable")
        self.unexpected.append(list(argv))
        return 2, "", f"fake slurm: unexpected {argv}"

    def _sbatch(self, argv: list[str]) -> tuple[int, str, str]:
        if self.sbatch_answer is not None:
            return self.sbatch_answer
        job_id = str(self.next_id)
        self.next_id += 1
        array = [a for a in argv if a.startswith("--array=")]
        if array:
            last = int(array[0].removeprefix("--array=0-"))
            self.queue.update({f"{job_id}_{i}": self.initial for i in range(last + 1)})
        else:
            self.queue[job_id] = self.initial
        return 0, f"{job_id};{self.cluster}\n" if self.cluster else f"{job_id}\n", ""

    async def cycles(self, count: int = 2) -> None:
        """Wait for ``count`` more squeue calls: with 2, one whole poll saw the table as it is now."""
        target = len(self.of("squeue")) + count
        while len(self.of("squeue")) < target:
            await self._squeued.wait()


@pytest.fixture(autouse=True)
def _fast_batches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(executor_module, "BATCH_SECONDS", 0.01)
    FakeSlurm.made.clear()
    yield
    assert [call for fake in FakeSlurm.made for call in fake.unexpected] == []


EXECUTORS: list[SlurmExecutor] = []


def new_executor(command: executor_module.Command, settings: SlurmSettings = FAST) -> SlurmExecutor:
    executor = SlurmExecutor(settings, command)
    EXECUTORS.append(executor)
    return executor


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a test's coroutine; a crash in the executor's own tasks fails the test with its cause."""
    EXECUTORS.clear()
    try:
        return asyncio.run(asyncio.wait_for(main, 2))
    finally:
        tasks = [t for e in EXECUTORS for t in (e._flusher, e._poller) if t is not None and t.done()]
        crashes = [t.exception() for t in tasks if not t.cancelled() and t.exception() is not None]
        if crashes:
            raise AssertionError(f"a task of the executor crashed: {crashes[0]!r}") from crashes[0]


async def soon(awaitable: Awaitable[T], seconds: float = 1) -> T:
    return await asyncio.wait_for(awaitable, seconds)


def make_job(root: Path, calc_id: int, resources: Resources | None = None, attempt: int = 1) -> Job:
    workdir = root / f"{calc_id}-{attempt}"
    (workdir / ".calchub").mkdir(parents=True)
    return Job(
        calc_id=calc_id,
        attempt=attempt,
        command=["lmp", "-in", "in.lammps"],
        env={"OMP_NUM_THREADS": "2"},
        workdir=workdir,
        cores=2,
        name=f"calc {calc_id}",
        resources=resources or Resources(cores=2, walltime=600),
    )


def exit_code(job: Job, code: int) -> None:
    (job.workdir / ".calchub" / "exit_code").write_text(f"{code}\n")


# -- submitting ------------------------------------------------------------------------


def test_starts_arriving_together_with_one_shape_make_one_job_array(tmp_path: Path) -> None:
    jobs = [make_job(tmp_path, calc_id) for calc_id in (1, 2, 3)]

    async def main() -> list[SlurmRun]:
        fake = FakeSlurm()
        executor = new_executor(fake)
        runs = await asyncio.gather(*(executor.start(job) for job in jobs))
        await executor.close()
        launcher = tmp_path / ".slurm" / "array-1-1" / "launcher.sh"
        assert fake.of("sbatch") == [["sbatch", "--parsable", "--array=0-2", str(launcher)]]
        assert fake.cwds[0] == launcher.parent
        scripts = [str(job.workdir / ".calchub" / "job.sh") for job in jobs]
        (line,) = [line for line in launcher.read_text().splitlines() if line.startswith("scripts=(")]
        assert shlex.split(line.removeprefix("scripts=(").removesuffix(")")) == scripts
        assert "#SBATCH --job-name=ch-array-1" in launcher.read_text()
        return [r for r in runs if isinstance(r, SlurmRun)]

    runs = run(main())
    assert [r.scheduler_id for r in runs] == ["100_0", "100_1", "100_2"]
    assert [r.job for r in runs] == jobs
    for job in jobs:
        script = (job.workdir / ".calchub" / "job.sh").read_text()
        assert script == slurm.render_script(script_job(job), FAST)
        assert f"#SBATCH --job-name=ch{job.calc_id}-calc_{job.calc_id}\n" in script
        assert "lmp -in in.lammps\n" in script


async def _trickle(executor: SlurmExecutor, jobs: list[Job]) -> list[asyncio.Task[Any]]:
    """Start ``jobs`` 0.06 s apart, as a busy agent hands over a claim's assignments."""
    starts = []
    for job in jobs:
        starts.append(asyncio.create_task(executor.start(job)))
        await asyncio.sleep(0.06)
    return starts


def test_starts_trickling_in_one_after_another_still_make_one_job_array(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A claim's assignments reach the executor one by one (their inputs fetched first):
    # each comes well within the window of the last, but all of them take longer than one.
    monkeypatch.setattr(executor_module, "BATCH_SECONDS", 0.2)
    jobs = [make_job(tmp_path, calc_id) for calc_id in range(1, 7)]

    async def main() -> None:
        fake = FakeSlurm()
        executor = new_executor(fake)
        runs = await asyncio.gather(*await _trickle(executor, jobs))
        await executor.close()
        assert len(fake.of("sbatch")) == 1
        assert [r.scheduler_id for r in runs] == [f"100_{i}" for i in range(6)]

    run(main())


def test_starts_that_never_stop_coming_are_submitted_at_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor_module, "BATCH_SECONDS", 0.2)
    monkeypatch.setattr(executor_module, "BATCH_LIMIT_SECONDS", 0.3)
    jobs = [make_job(tmp_path, calc_id) for calc_id in range(1, 11)]

    async def main() -> None:
        fake = FakeSlurm()
        executor = new_executor(fake)
        starts = await _trickle(executor, jobs)
        first = await soon(starts[0])
        assert first.scheduler_id.startswith("100_")
        await asyncio.gather(*starts)
        await executor.close()
        assert len(fake.of("sbatch")) >= 2

    run(main())


def test_different_shapes_are_submitted_apart_and_a_lone_start_plainly(tmp_path: Path) -> None:
    small = make_job(tmp_path, 1, Resources(cores=1))
    big = make_job(tmp_path, 2, Resources(cores=8, partition="long"))
    lone = make_job(tmp_path, 3)

    async def main() -> None:
        fake = FakeSlurm(cluster="dev")
        executor = new_executor(fake)
        a, b = await asyncio.gather(executor.start(small), executor.start(big))
        c = await executor.start(lone)
        await executor.close()
        assert [a.scheduler_id, b.scheduler_id, c.scheduler_id] == ["100", "101", "102"]
        assert fake.of("sbatch") == [
            ["sbatch", "--parsable", str(job.workdir / ".calchub" / "job.sh")] for job in (small, big, lone)
        ]
        assert [cwd for call, cwd in zip(fake.calls, fake.cwds, strict=True) if call[0] == "sbatch"] == [
            small.workdir,
            big.workdir,
            lone.workdir,
        ]
        assert executor.submissions == 3
        assert "#SBATCH --partition=long\n" in (big.workdir / ".calchub" / "job.sh").read_text()

    run(main())


def test_arrays_are_split_at_the_clusters_max_array_size(tmp_path: Path) -> None:
    jobs = [make_job(tmp_path, calc_id) for calc_id in range(1, 6)]

    async def main() -> None:
        fake = FakeSlurm()
        executor = new_executor(fake, SlurmSettings(poll_seconds=0.01, max_array_size=2))
        runs = await asyncio.gather(*(executor.start(job) for job in jobs))
        await executor.close()
        assert fake.of("sbatch") == [
            ["sbatch", "--parsable", "--array=0-1", str(tmp_path / ".slurm" / "array-1-1" / "launcher.sh")],
            ["sbatch", "--parsable", "--array=0-1", str(tmp_path / ".slurm" / "array-3-1" / "launcher.sh")],
            ["sbatch", "--parsable", str(jobs[4].workdir / ".calchub" / "job.sh")],
        ]
        assert [r.scheduler_id for r in runs] == ["100_0", "100_1", "101_0", "101_1", "102"]

    run(main())


def test_a_refused_sbatch_fails_every_start_of_its_batch(tmp_path: Path) -> None:
    jobs = [make_job(tmp_path, calc_id) for calc_id in (1, 2, 3)]
    lone = make_job(tmp_path, 4)

    async def main() -> None:
        fake = FakeSlurm()
        fake.sbatch_answer = (1, "", "sbatch: error: invalid partition\n")
        executor = new_executor(fake)
        results = await asyncio.gather(*(executor.start(job) for job in jobs), return_exceptions=True)
        assert len(fake.of("sbatch")) == 1
        for result in results:
            assert isinstance(result, ValueError)
            assert "sbatch: error: invalid partition" in str(result)
        with pytest.raises(ValueError, match="sbatch: error: invalid partition"):
            await executor.start(lone)
        fake.sbatch_answer = (0, "Submitted batch job 7\n", "")
        with pytest.raises(ValueError, match="sbatch printed no job id: 'Submitted batch job 7'"):
            await executor.start(lone)
        await executor.close()
        assert fake.of("squeue") == []
        assert executor.jobs == {}

    run(main())


def test_a_start_arriving_while_sbatch_runs_is_submitted_too(tmp_path: Path) -> None:
    first, late = make_job(tmp_path, 1), make_job(tmp_path, 2)

    async def main() -> None:
        fake = FakeSlurm()
        in_sbatch, release = asyncio.Event(), asyncio.Event()

        async def slow_sbatch(argv: list[str], cwd: Path | None) -> tuple[int, str, str]:
            if argv[0] == "sbatch" and not in_sbatch.is_set():
                in_sbatch.set()
                await release.wait()
            return await fake(argv, cwd)

        executor = new_executor(slow_sbatch)
        started = asyncio.create_task(executor.start(first))
        await soon(in_sbatch.wait())
        arriving = asyncio.create_task(executor.start(late))
        await asyncio.sleep(0)
        assert executor._queue  # the late start is queued behind the running sbatch
        release.set()
        assert (await soon(started)).scheduler_id == "100"
        try:
            assert (await soon(arriving, 0.1)).scheduler_id == "101"
        finally:
            await executor.close()

    run(main())


# -- following -------------------------------------------------------------------------


def test_one_squeue_per_poll_cycle_however_many_jobs_are_followed(tmp_path: Path) -> None:
    jobs = [make_job(tmp_path, calc_id) for calc_id in range(1, 6)]

    async def main() -> None:
        fake = FakeSlurm()
        executor = new_executor(fake)
        cycles = 0
        poll = executor.poll

        async def counted() -> None:
            nonlocal cycles
            cycles += 1
            await poll()

        executor.poll = counted  # type: ignore[method-assign]
        runs = list(await asyncio.gather(*(executor.start(job) for job in jobs[:4])))
        fake.queue["77"] = ("RUNNING", "None")
        runs.append(await executor.reattach(jobs[4], "77"))
        fake.queue["100_1"] = ("RUNNING", "None")
        fake.queue["100_2"] = ("PENDING", "Resources")
        await soon(fake.cycles(6))
        await executor.close()
        assert cycles >= 6
        assert len(fake.of("squeue")) == cycles
        assert fake.calls[0][0] == "sbatch"
        assert {call[0] for call in fake.calls[1:]} == {"squeue"}
        assert [r.began.is_set() for r in runs] == [False, True, False, False, True]
        assert [r.note for r in runs] == ["Priority", "", "Resources", "Priority", ""]
        assert len(executor.jobs) == 5

    run(main())


def test_a_job_waits_with_its_reason_then_runs_then_completes(tmp_path: Path) -> None:
    job = make_job(tmp_path, 1)

    async def main() -> None:
        fake = FakeSlurm()
        fake.initial = ("PENDING", "Resources")
        executor = new_executor(fake)
        started = await executor.start(job)
        await soon(started.seen.wait())
        assert started.note == "Resources"
        assert not started.began.is_set()

        fake.queue["100"] = ("RUNNING", "None")
        await soon(started.began.wait())
        assert started.note == ""
        assert not started.output.is_set()
        job.stdout.write_text("step 1\n")
        await soon(started.output.wait())

        exit_code(job, 0)
        fake.queue["100"] = ("COMPLETED", "None")
        assert await soon(started.wait()) == Outcome(0)
        assert executor.jobs == {}
        assert fake.of("sacct") == []
        await executor.close()

    run(main())


@pytest.mark.parametrize(
    ("state", "reason", "code", "expected"),
    [
        ("COMPLETED", "None", None, Outcome(0)),
        ("COMPLETED", "None", 0, Outcome(0)),
        ("FAILED", "NonZeroExitCode", 3, Outcome(3, None, "the job failed (NonZeroExitCode)")),
        ("TIMEOUT", "None", None, Outcome(None, "walltime", "Slurm stopped the job at its time limit")),
        ("OUT_OF_MEMORY", "None", None, Outcome(None, None, "the job ran out of memory")),
        ("NODE_FAIL", "None", None, Outcome(None, None, "a node of the job failed")),
        ("CANCELLED", "None", None, Outcome(None, None, "the job was cancelled in Slurm")),
        ("PREEMPTED", "None", None, Outcome(None, None, "the job was preempted")),
        ("CANCELLED+", "None", None, Outcome(None, None, "the job was cancelled in Slurm")),
    ],
)
def test_how_a_job_ended_in_squeue_becomes_its_outcome(
    tmp_path: Path, state: str, reason: str, code: int | None, expected: Outcome
) -> None:
    job = make_job(tmp_path, 1)
    if code is not None:
        exit_code(job, code)

    async def main() -> Outcome:
        fake = FakeSlurm()
        fake.initial = (state, reason)
        executor = new_executor(fake)
        started = await executor.start(job)
        outcome = await soon(started.wait())
        assert started.began.is_set()
        await executor.close()
        return outcome

    outcome = run(main())
    assert outcome == expected
    if state == "TIMEOUT":
        assert outcome.reason is not None and "time limit" in outcome.reason
    if state == "OUT_OF_MEMORY":
        assert outcome.reason is not None and "memory" in outcome.reason


def test_jobs_squeue_forgot_are_asked_of_sacct_in_one_call(tmp_path: Path) -> None:
    jobs = {job_id: make_job(tmp_path, calc_id) for calc_id, job_id in enumerate(["70", "71", "72", "73"], 1)}
    exit_code(jobs["73"], 4)  # neither squeue nor sacct knows it: its exit code file tells

    async def main() -> dict[str, Outcome]:
        fake = FakeSlurm()
        fake.queue["72"] = ("RUNNING", "None")
        fake.accounting = {"70": "FAILED|3:0|NonZeroExitCode", "71": "OUT_OF_MEMORY|0:125|OutOfMemory"}
        executor = new_executor(fake)
        runs = {job_id: await executor.reattach(job, job_id) for job_id, job in jobs.items()}
        ended = {job_id: await soon(runs[job_id].wait()) for job_id in ("70", "71", "73")}
        await soon(fake.cycles(3))
        assert fake.of("sacct") == [[*SACCT, "70,71,73"]]
        assert list(executor.jobs) == ["72"]
        assert fake.calls[:2] == [SQUEUE, [*SACCT, "70,71,73"]]
        await executor.close()
        return ended

    assert run(main()) == {
        "70": Outcome(3, None, "the job failed (NonZeroExitCode)"),
        "71": Outcome(None, None, "the job ran out of memory (OutOfMemory)"),
        "73": Outcome(4),
    }


def test_a_job_nobody_knows_without_an_exit_code_is_still_followed(tmp_path: Path) -> None:
    job = make_job(tmp_path, 1)

    async def main() -> None:
        fake = FakeSlurm()
        executor = new_executor(fake)
        started = await executor.reattach(job, "90")
        await soon(fake.cycles(3))
        assert started in executor.jobs.values()
        assert isinstance(started, SlurmRun) and not started.ended.done()
        assert not started.began.is_set()
        assert started.seen.is_set()
        # Each cycle asks sacct again, for this job only.
        assert fake.of("sacct") == [[*SACCT, "90"]] * len(fake.of("squeue"))
        fake.queue["90"] = ("RUNNING", "None")
        await soon(started.began.wait())
        await executor.close()

    run(main())


def test_reattach_follows_a_job_by_id_without_submitting(tmp_path: Path) -> None:
    job = make_job(tmp_path, 1)

    async def main() -> Outcome:
        fake = FakeSlurm()
        fake.queue["77"] = ("RUNNING", "None")
        executor = new_executor(fake)
        started = await executor.reattach(job, "77")
        assert started.scheduler_id == "77"
        await soon(started.began.wait())
        exit_code(job, 0)
        fake.queue["77"] = ("COMPLETED", "None")
        outcome = await soon(started.wait())
        await executor.close()
        assert fake.of("sbatch") == []
        assert not (job.workdir / ".calchub" / "job.sh").exists()
        return outcome

    assert run(main()) == Outcome(0)


def test_a_failing_squeue_is_retried_on_the_next_cycle(tmp_path: Path) -> None:
    job = make_job(tmp_path, 1)

    async def main() -> Outcome:
        fake = FakeSlurm()
        fake.queue["77"] = ("COMPLETED", "None")
        failures = 2

        async def flaky(argv: list[str], cwd: Path | None) -> tuple[int, str, str]:
            nonlocal failures
            if argv[0] == "squeue" and failures:
                failures -= 1
                return 1, "", "slurm_load_jobs error: Socket timed out"
            return await fake(argv, cwd)

        executor = new_executor(flaky)
        started = await executor.reattach(job, "77")
        outcome = await soon(started.wait())
        await executor.close()
        assert failures == 0
        return outcome

    assert run(main()) == Outcome(0)


# -- stopping ------------------------------------------------------------------------------


def test_kill_cancels_the_job_in_slurm_and_ends_as_cancelled(tmp_path: Path) -> None:
    jobs = [make_job(tmp_path, calc_id) for calc_id in (1, 2)]

    async def main() -> None:
        fake = FakeSlurm()
        fake.initial = ("RUNNING", "None")
        executor = new_executor(fake)
        first, second = await asyncio.gather(*(executor.start(job) for job in jobs))
        await soon(second.began.wait())
        await second.kill("cancelled")
        assert fake.of("scancel") == [["scancel", "100_1"]]
        assert await soon(second.wait()) == Outcome(None, "cancelled")
        assert isinstance(first, SlurmRun) and not first.ended.done()
        assert list(executor.jobs) == ["100_0"]
        await executor.close()

    run(main())


def test_stopping_the_agent_detaches_without_scancel(tmp_path: Path) -> None:
    job = make_job(tmp_path, 1)

    async def main() -> None:
        fake = FakeSlurm()
        fake.initial = ("RUNNING", "None")
        executor = new_executor(fake)
        started = await executor.start(job)
        await soon(started.began.wait())
        await started.kill("stopping")
        assert await soon(started.wait()) == Outcome(None, "detached")
        assert executor.jobs == {}
        assert fake.of("scancel") == []
        assert fake.queue["100"] == ("RUNNING", "None")
        await executor.close()

    run(main())


# -- the cluster -------------------------------------------------------------------------------


def test_partitions_come_from_sinfo() -> None:
    async def main() -> list[dict[str, Any]]:
        fake = FakeSlurm()
        fake.sinfo = (
            "debug|up|0/1/0/1|0/2/0/2|infinite|(null)|debug*\n"
            "short|up|0/1/0/1|0/2/0/2|10:00|(null)|short\n"
            "gpu|up|1/3/0/4|8/120/0/128|2-00:00:00|gpu:v100:4|gpu\n"
        )
        found = await new_executor(fake).partitions()
        assert fake.calls == [["sinfo", "-h", "-o", "%R|%a|%F|%C|%l|%G|%P"]]
        return found

    found = run(main())
    assert [(p["name"], p["default"], p["time_limit"]) for p in found] == [
        ("debug", True, "infinite"),
        ("short", False, "10:00"),
        ("gpu", False, "2-00:00:00"),
    ]
    assert found[2] == {
        "name": "gpu",
        "state": "up",
        "default": False,
        "nodes_total": 4,
        "nodes_idle": 3,
        "cpus_total": 128,
        "cpus_idle": 120,
        "gpus_total": 16,
        "gpus_idle": 12,
        "time_limit": "2-00:00:00",
    }


def test_a_failing_sinfo_is_an_os_error() -> None:
    async def main() -> None:
        with pytest.raises(OSError, match="slurmctld not reachable"):
            await new_executor(FakeSlurm()).partitions()

    run(main())


def test_configure_takes_the_clusters_slurm_settings() -> None:
    executor = SlurmExecutor()
    executor.configure({"slurm": {"default_partition": "short", "max_array_size": 50}})
    assert executor.settings == SlurmSettings(default_partition="short", max_array_size=50)
    executor.configure({})
    assert executor.settings == SlurmSettings()


def test_a_job_without_resources_keeps_its_walltime() -> None:
    job = Job(calc_id=1, attempt=1, command=["true"], env={}, workdir=Path("/w"), cores=2, walltime=3600.0)
    assert "--time=01:00:00" in slurm.directives(script_job(job), SlurmSettings())
