"""Real bumps fits and real LAMMPS runs through the CLI, the server and the agent."""

from __future__ import annotations

import csv
import importlib.util
import io
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.acceptance.conftest import Site

pytestmark = pytest.mark.slow
DATA = Path(__file__).parents[1] / "data" / "bumps"

needs_bumps = pytest.mark.skipif(
    importlib.util.find_spec("bumps") is None, reason="bumps is not installed (pip install 'calchub[dev]')"
)
needs_lammps = pytest.mark.skipif(
    shutil.which("lmp") is None,
    reason="LAMMPS is not installed: `apt-get install lammps` (scripts/test does it when run as root)",
)


def _submitted(site: Site, *args: str) -> int:
    done = site.cli("submit", *args)
    assert done.returncode == 0, f"submit failed:\n{done.stdout}\n{done.stderr}"
    found = re.search(r"submitted calculation (\d+)", done.stdout)
    assert found, done.stdout
    return int(found.group(1))


def _weighted_line_fit() -> tuple[np.ndarray, np.ndarray, float]:
    """The exact weighted least-squares line through the test data: (slope, intercept), errors, chi2/dof."""
    x, y, dy = np.loadtxt(DATA / "line.dat").T
    design = np.vstack([x, np.ones_like(x)]).T / dy[:, None]
    covariance = np.linalg.inv(design.T @ design)
    best = covariance @ design.T @ (y / dy)
    chisq = float(np.sum(((y - (best[0] * x + best[1])) / dy) ** 2)) / (len(x) - 2)
    return best, np.sqrt(np.diag(covariance)), chisq


@needs_bumps
def test_a_bumps_fit_submitted_from_the_cli_gives_the_known_line(running: Site, tmp_path: Path) -> None:
    types = running.cli_json("types", "ls")
    assert {"bumps", "lammps", "shell", "python"} <= {t["name"] for t in types["items"]}
    assert "steps" in running.cli("types", "show", "bumps").stdout

    calc_id = _submitted(
        running,
        "--type", "bumps",
        "-i", "fit=lm",
        "--file", str(DATA / "model.py"),
        "--file", str(DATA / "line.dat"),
        "--study", "line",
    )  # fmt: skip
    waited = running.cli("wait", str(calc_id), timeout=120)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    found = running.cli_json("results", str(calc_id))
    scalars = {s["name"]: s for s in found["scalars"]}
    (slope, intercept), (d_slope, d_intercept), chisq = _weighted_line_fit()
    assert abs(scalars["slope"]["value"] - slope) < scalars["slope"]["error"]
    assert abs(scalars["intercept"]["value"] - intercept) < scalars["intercept"]["error"]
    assert scalars["slope"]["error"] == pytest.approx(d_slope, rel=0.05)
    assert scalars["intercept"]["error"] == pytest.approx(d_intercept, rel=0.05)
    assert scalars["chisq"]["value"] == pytest.approx(chisq, rel=1e-3)
    assert {f["name"] for f in found["figures"]} == {"fit"}
    assert found["calctype_version"] == "1.0"

    table = running.cli(
        "results", "--type", "bumps", "--study", "line", "--fields", "slope,intercept,chisq", "--csv"
    )
    header, row = list(csv.reader(io.StringIO(table.stdout)))
    assert header[-5:] == ["slope", "slope.error", "intercept", "intercept.error", "chisq"]
    assert float(row[-5]) == pytest.approx(scalars["slope"]["value"])

    archive = tmp_path / "fit.zip"
    assert running.cli("download", str(calc_id), "--dest", str(archive)).returncode == 0
    names = {name.split("/", 2)[2] for name in zipfile.ZipFile(archive).namelist() if "/outputs/" in name}
    assert {"out/model.par", "out/model-fit.json", "figures/fit.svg", "model.py"} <= names


@needs_bumps
def test_bumps_inputs_are_checked_against_the_fitters_own_ranges(running: Site) -> None:
    refused = running.cli(
        "submit", "-t", "bumps", "-i", "fit=lm", "-i", "options.xtol=2", "--file", str(DATA / "model.py")
    )
    assert refused.returncode != 0
    assert "inputs.options.xtol" in refused.stderr + refused.stdout
    assert running.client().list() == []


@needs_lammps
def test_a_lammps_nve_run_conserves_energy_and_drops_its_trajectory(running: Site, tmp_path: Path) -> None:
    client = running.client()
    calc = client.submit(
        type="lammps", inputs={"temperature": 1.44, "cells": 5, "steps": 1000, "thermo_every": 50}, study="lj"
    )
    done = client.wait(calc.id, timeout=120)
    assert done.state == "completed", done.message
    assert (done.type, done.type_version) == ("lammps", "1.1")
    found = client.results(calc.id)
    scalars = {s.name: s.value for s in found.scalars}
    # A shifted LJ potential with timestep 0.005 keeps NVE energy to a few parts in 1e5.
    assert abs(scalars["energy_drift"]) < 1e-3
    assert scalars["atoms"] == 500
    (thermo,) = [t for t in found.tables if t.name == "thermo"]
    assert len(thermo.rows) == 1000 // 50 + 1 and thermo.rows[-1][0] == 1000
    assert "energy" in {f.name for f in found.figures}
    assert found.bytes_freed > 0, "the trajectory dump should have been deleted"
    kept = {f.path for f in client.files(calc.id) if f.kind == "output"}
    assert "log.lammps" in kept and not any(p.startswith("dump") for p in kept)
    archive = client.download(calc.id, tmp_path / "all.zip")
    assert f"calc-{calc.id}/outputs/figures/energy.svg" in zipfile.ZipFile(archive).namelist()


@needs_lammps
def test_lammps_bad_inputs_are_refused_by_the_cli_naming_the_field(running: Site) -> None:
    refused = running.cli("submit", "-t", "lammps", "-i", "temperature=-1", "-i", "steps=many")
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert "inputs.temperature" in said and "inputs.steps" in said
