"""The example of examples/models/ end to end: LAMMPS runs, a model trained on their results,
packaged with the scaffold, registered, started by the server and asked for predictions."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.acceptance.conftest import Site

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("lmp") is None,
        reason="LAMMPS is not installed: `apt-get install lammps` (scripts/test does it when run as root)",
    ),
]
EXAMPLE = Path(__file__).parents[2] / "examples" / "models" / "lj_energy" / "train_and_serve.py"


def test_the_model_example_trains_on_lammps_results_and_serves_predictions(running: Site) -> None:
    package = running.root / "lj-energy"
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--package", str(package)],
        env=running.env,
        cwd=running.root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{running.dump()}"
    fitted = re.search(r"R\^2 = ([0-9.]+)", done.stdout)
    assert fitted and float(fitted.group(1)) > 0.95, done.stdout
    said = re.search(r"LAMMPS at T=1.44, rho=0.8442: (-?[0-9.]+); the model said (-?[0-9.]+)", done.stdout)
    assert said, done.stdout
    assert abs(float(said.group(1)) - float(said.group(2))) < 0.25, done.stdout
    assert (package / "model.joblib").is_file() and (package / "serve.py").is_file()

    shown = running.cli_json("model", "show", "lj-energy")
    assert (shown["state"], shown["version"], shown["inputs"]["columns"]) == (
        "healthy",
        "1",
        ["temperature", "density"],
    )
    again = running.cli(
        "model", "predict", "lj-energy", '{"instances": [{"temperature": 1.2, "density": 0.8}]}'
    )
    assert again.returncode == 0 and '"predictions"' in again.stdout, again.stderr
    # A second run reuses the sweep and registers the next version, which becomes current.
    rerun = subprocess.run(
        [sys.executable, str(EXAMPLE), "--no-check"],
        env=running.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0 and "reusing the study" in rerun.stdout, rerun.stderr
    assert running.cli_json("model", "show", "lj-energy")["version"] == "2"
