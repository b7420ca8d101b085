"""Real bumps fits through the ``bumps`` type: prepare, run the command, post-process, check the numbers.

The model (tests/data/bumps) fits a straight line to 20 points with dy = 0.5, so
the exact answer is the weighted least-squares one, computed here with numpy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from calchub.agent.delivery import outputs
from calchub.calctypes.api import RunDir
from calchub.calctypes.builtins.bumps import OPTIONS, Bumps
from calchub.calctypes.inputs import check_request
from calchub.calctypes.postprocess import Finished, postprocess

DATA = Path(__file__).parents[1] / "data" / "bumps"


@dataclass
class Run:
    done: Finished
    workdir: Path
    keep: list[str]

    def scalar(self, name: str) -> Any:
        return next(s for s in self.done.results.scalars if s.name == name)

    def table(self, name: str) -> Any:
        return next(t for t in self.done.results.tables if t.name == name)


def _bumps() -> str:
    found = shutil.which("bumps") or shutil.which("bumps", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(
            "the bumps console script is not installed (pip install 'bumps>=1.0.5'); these tests run it"
        )
    return found


def _wls() -> tuple[Any, Any, float]:
    """The weighted least-squares slope and intercept, their 1-sigma errors, and chi2/dof."""
    np = pytest.importorskip("numpy", reason="numpy (a bumps dependency) computes the exact answer")
    x, y, dy = np.loadtxt(DATA / "line.dat").T
    best, cov = np.polyfit(x, y, 1, w=1 / dy, cov="unscaled")
    chi2 = float((((y - np.polyval(best, x)) / dy) ** 2).sum())
    return best, np.sqrt(np.diag(cov)), chi2 / (len(x) - 2)


def _fit(tmp_path: Path, inputs: dict[str, Any], analyses: list[str] | None = None) -> Run:
    bumps = _bumps()
    calctype = Bumps()
    filled, chosen, problems = check_request(calctype, inputs, ["model.py", "line.dat"], analyses)
    assert problems == []
    prepared = calctype.prepare(filled)
    workdir = tmp_path / "work"
    (workdir / ".calchub").mkdir(parents=True)
    for name in ("model.py", "line.dat"):
        shutil.copy(DATA / name, workdir / name)
    command = [bumps, *prepared.command[1:]] if prepared.command[0] == "bumps" else prepared.command
    with (workdir / ".calchub/stdout").open("wb") as out, (workdir / ".calchub/stderr").open("wb") as err:
        ended = subprocess.run(
            command,
            cwd=workdir,
            env=os.environ | prepared.env,
            stdout=out,
            stderr=err,
            timeout=120,
            check=False,
        )
    assert ended.returncode == 0, (workdir / ".calchub/stderr").read_text()
    done = postprocess(calctype, RunDir(workdir, filled, ended.returncode), chosen, prepared.keep)
    return Run(done, workdir, prepared.keep)


def test_the_schema_offers_only_options_the_installed_bumps_takes() -> None:
    shown = subprocess.run(
        [_bumps(), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=os.environ | Bumps.env,
    ).stdout
    for name in OPTIONS:
        assert re.search(rf"--{name}\b", shown), name
    assert "--no-trim" in shown


def test_lm_gives_the_weighted_least_squares_answer(tmp_path: Path) -> None:
    (slope, intercept), (dslope, dintercept), reduced = _wls()
    run = _fit(tmp_path, {"fit": "lm"})
    assert run.done.verdict == "completed", run.done.message
    fitted_slope, fitted_intercept = run.scalar("slope"), run.scalar("intercept")
    assert abs(fitted_slope.value - slope) < fitted_slope.error
    assert abs(fitted_intercept.value - intercept) < fitted_intercept.error
    assert fitted_slope.value == pytest.approx(slope, rel=1e-6)
    assert fitted_intercept.value == pytest.approx(intercept, rel=1e-6)
    assert fitted_slope.error == pytest.approx(dslope, rel=1e-3)
    assert fitted_intercept.error == pytest.approx(dintercept, rel=1e-3)
    assert run.scalar("chisq").value == pytest.approx(reduced, rel=1e-6)
    assert (run.scalar("dof").value, run.scalar("numpoints").value) == (18, 20)
    assert run.scalar("nllf").value == pytest.approx(reduced * 18 / 2, rel=1e-6)
    assert len(run.table("fit_curve").rows) == 20
    assert [f.name for f in run.done.results.figures] == ["fit"]
    assert (run.workdir / "figures/fit.svg").is_file()
    kept = {path for path, _ in outputs(run.workdir, run.keep)}
    assert {"model.py", "out/model.par", "out/model-fit.json", "out/model.out", "out/model-1.dat"} <= kept
    assert not any(path.startswith(".mplconfig") for path in kept)


def test_dream_draws_a_posterior_that_agrees_and_drops_its_chains(tmp_path: Path) -> None:
    (slope, intercept), (dslope, dintercept), _ = _wls()
    run = _fit(tmp_path, {"fit": "dream", "options": {"samples": 10000, "burn": 100}})
    assert run.done.verdict == "completed", run.done.message
    parameters = run.table("parameters")
    assert parameters.columns[:4] == ["name", "value", "uncertainty", "mean"]
    stats = {row[0]: dict(zip(parameters.columns, row, strict=True)) for row in parameters.rows}
    assert abs(stats["slope"]["mean"] - slope) < 3 * dslope
    assert abs(stats["intercept"]["mean"] - intercept) < 3 * dintercept
    assert stats["slope"]["std"] == pytest.approx(dslope, rel=0.25)
    assert stats["slope"]["p68_low"] < slope < stats["slope"]["p68_high"]
    posterior = run.table("posterior")
    assert posterior.columns == ["logp", "intercept", "slope"]
    assert len(posterior.rows) == 5000
    assert {f.name for f in run.done.results.figures} == {"fit", "distributions"}
    assert (run.workdir / "figures/distributions.svg").is_file()
    assert run.done.results.files_removed >= 3 and run.done.results.bytes_freed > 0
    assert not list((run.workdir / "out").glob("*.mc.gz"))
    assert (run.workdir / "out/model.par").is_file() and (run.workdir / "out/model-err.json").is_file()


def test_amoeba_cut_short_by_its_step_limit_is_invalid(tmp_path: Path) -> None:
    run = _fit(tmp_path, {"fit": "amoeba", "options": {"steps": 3}})
    assert run.done.verdict == "invalid"
    assert run.done.message is not None
    assert "step limit" in run.done.message and "raise options.steps" in run.done.message
    assert run.done.results.scalars == []
    assert (run.workdir / "out/model.par").is_file()
