"""The agent's pure-ish parts: the spool, output selection, and how a run's end is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from calchub.agent import runner
from calchub.agent.delivery import outputs
from calchub.agent.executors.base import Job, Outcome
from calchub.agent.spool import Spool
from calchub.contracts.agents import Assignment, Report
from calchub.contracts.calculations import Resources
from calchub.domain.states import State

# -- spool ---------------------------------------------------------------------


def test_spool_returns_entries_in_the_order_they_were_put(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    names = [spool.put({"n": i}) for i in range(12)]
    pending = spool.pending()
    assert [e.body["n"] for e in pending] == list(range(12))
    assert [e.name for e in pending] == names


def test_spool_survives_a_new_instance_and_keeps_order_across_restarts(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    first.put({"n": 0})
    first.put({"n": 1})
    second = Spool(tmp_path)
    assert [e.body["n"] for e in second.pending()] == [0, 1]
    second.put({"n": 2})
    assert [e.body["n"] for e in Spool(tmp_path).pending()] == [0, 1, 2]


def test_done_removes_only_that_entry(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    a = spool.put({"n": "a"})
    spool.put({"n": "b"})
    spool.done(a)
    spool.done(a)  # twice is harmless
    assert [e.body["n"] for e in Spool(tmp_path).pending()] == ["b"]


def test_a_broken_entry_is_set_aside_and_the_rest_delivered(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.put({"n": 0})
    broken = spool.put({"n": 1})
    spool.put({"n": 2})
    (tmp_path / broken).write_text('{"n": 1')  # half a file
    assert [e.body["n"] for e in spool.pending()] == [0, 2]
    assert (tmp_path / broken).with_suffix(".broken").exists()
    assert not (tmp_path / broken).exists()
    assert [e.body["n"] for e in spool.pending()] == [0, 2]


def test_a_half_written_temporary_file_is_not_an_entry(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    (tmp_path / ".00000000000000000001-000000000.json.part").write_text("{")
    spool.put({"n": 0})
    assert [e.body for e in spool.pending()] == [{"n": 0}]


# -- output selection ------------------------------------------------------------


def _tree(root: Path, *paths: str) -> None:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(path)


def test_outputs_pick_files_matching_the_patterns(tmp_path: Path) -> None:
    _tree(tmp_path, "a.out", "b.out", "c.log", "sub/d.out", "sub/e.txt")
    (tmp_path / "dir.out").mkdir()
    found = outputs(tmp_path, ["*.out", "sub/*.txt"])
    assert [p for p, _ in found] == ["a.out", "b.out", "sub/e.txt"]
    assert all(source == tmp_path / p for p, source in found)


def test_outputs_ignore_calchubs_own_folder_and_dedupe(tmp_path: Path) -> None:
    _tree(tmp_path, ".calchub/stdout", ".calchub/stderr", "r.json", "deep/x/r.json")
    found = dict(outputs(tmp_path, ["**/*", "*.json", "r.json", ".calchub/*"]))
    assert sorted(found) == ["deep/x/r.json", "r.json"]


def test_outputs_with_no_patterns_or_no_match_is_empty(tmp_path: Path) -> None:
    _tree(tmp_path, "a.out")
    assert outputs(tmp_path, []) == []
    assert outputs(tmp_path, ["*.nothing"]) == []


# -- reports -------------------------------------------------------------------------


def _job(tmp_path: Path, walltime: float | None = None) -> Job:
    return Job(calc_id=7, attempt=2, command=["x"], env={}, workdir=tmp_path, walltime=walltime)


def test_exit_zero_completes(tmp_path: Path) -> None:
    body = runner.finished(_job(tmp_path), Outcome(0))
    assert body is not None
    report = Report.model_validate(body)
    assert (report.id, report.attempt, report.state, report.exit_code) == (7, 2, State.COMPLETED, 0)


@pytest.mark.parametrize(("code", "words"), [(3, "exited with code 3"), (-9, "killed by signal 9")])
def test_non_zero_fails_with_a_message(tmp_path: Path, code: int, words: str) -> None:
    report = Report.model_validate(runner.finished(_job(tmp_path), Outcome(code)))
    assert report.state is State.FAILED
    assert report.exit_code == code
    assert report.message == words


def test_walltime_fails_naming_the_limit(tmp_path: Path) -> None:
    report = Report.model_validate(runner.finished(_job(tmp_path, walltime=90), Outcome(-15, "walltime")))
    assert report.state is State.FAILED
    assert report.message is not None and "walltime of 90 s" in report.message


def test_stopping_the_agent_loses_the_run(tmp_path: Path) -> None:
    report = Report.model_validate(runner.finished(_job(tmp_path), Outcome(-15, "stopping")))
    assert report.state is State.LOST
    assert report.exit_code == -15


@pytest.mark.parametrize("reason", ["cancelled", "released"])
def test_runs_the_server_ended_need_no_report(tmp_path: Path, reason: str) -> None:
    assert runner.finished(_job(tmp_path), Outcome(-15, reason)) is None


def test_job_for_an_assignment(tmp_path: Path) -> None:
    assignment = Assignment(
        id=5,
        attempt=3,
        name="n",
        command=["echo", "hi"],
        env={"A": "1"},
        outputs=[],
        resources=Resources(cores=2, memory=100, walltime=60),
        files=[],
    )
    job = runner.job_for(assignment, tmp_path)
    assert job.workdir == tmp_path / "5-3"
    assert (job.cores, job.memory, job.walltime) == (2, 100, 60.0)
    assert job.stdout == tmp_path / "5-3" / ".calchub" / "stdout"
    assert Report.model_validate(runner.report(assignment, State.RUNNING)).id == 5
