"""Train a model on calchub's own LAMMPS results, package it, and serve it from calchub.

1. Runs (or reuses) a sweep of the built-in `lammps` type over temperature and density:
   a Lennard-Jones liquid, NVT, 256 atoms, 500 steps each.
2. Reads the results table: the final total energy per atom against T and rho.
3. Fits a quadratic surface (scikit-learn) and saves it with joblib.
4. Writes a model package around it with calchub's scaffold (`calchub model scaffold`).
5. Registers the package as a new version of `lj-energy`, starts it, waits until it
   answers /ping, and asks it for predictions through calchub, at a point the sweep did
   not run, which it also runs with LAMMPS to compare.

With a server running (`make run`), from the repository:

    .venv/bin/pip install scikit-learn      # once (`make test` installs it too)
    .venv/bin/python examples/models/lj_energy/train_and_serve.py

The model runs with the server's Python (scikit-learn installed there), or, with
--own-env, in a virtual environment calchub builds from the package's requirements.txt.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

try:
    import joblib  # type: ignore[import-untyped]
    from sklearn.linear_model import LinearRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import PolynomialFeatures  # type: ignore[import-untyped]
except ImportError:
    raise SystemExit(
        "this example needs scikit-learn beside calchub: `.venv/bin/pip install scikit-learn` "
        "(the model then runs with the server's Python too)"
    ) from None

from calchub.client import Client, NotFound
from calchub.models.scaffold import scaffold

TEMPERATURES = [0.8, 1.2, 1.6, 2.0]
DENSITIES = [0.7, 0.8, 0.9]
#: A point the sweep does not run: the model predicts it, LAMMPS checks it.
HELD_OUT = (1.44, 0.8442)
RUN = {"cells": 4, "steps": 500, "ensemble": "nvt", "thermo_every": 50, "dump_every": 500}
ENERGY = "final_total_energy"
NAME = "lj-energy"


def sweep(client: Client, study: str) -> None:
    """The grid of LAMMPS runs, once: a study of that name is reused."""
    try:
        client.study(study)
        print(f"reusing the study {study}")
    except NotFound:
        product = [
            {"input": "temperature", "values": TEMPERATURES},
            {"input": "density", "values": DENSITIES},
        ]
        made = client.sweep(study, {"type": "lammps", "inputs": RUN}, product=product)
        print(f"running {made.count} LAMMPS calculations as the study {study} ...")
    ids = [c.id for c in client.iter(study=study)]
    done = client.wait_all(
        ids, timeout=1800, progress=lambda n, total: print(f"  {n}/{total} finished", end="\r")
    )
    print()
    failed = [c for c in done if c.state != "completed"]
    if failed:
        raise SystemExit(f"{len(failed)} runs did not complete, e.g. {failed[0].id}: {failed[0].message}")


def training_data(client: Client, study: str) -> tuple[np.ndarray, np.ndarray]:
    """(T, rho) and the energy per atom of every completed run of the study."""
    fields = ["inputs.temperature", "inputs.density", ENERGY]
    table = client.results_table(study=study, fields=fields, state=["completed"], as_frame=False)
    at = {name: table.columns.index(name) for name in fields}
    rows = [[row[at[f]] for f in fields] for row in table.rows]
    data = np.array(rows, dtype=float)
    return data[:, :2], data[:, 2]


def fit(x: np.ndarray, y: np.ndarray) -> Any:
    model = make_pipeline(PolynomialFeatures(degree=2), LinearRegression())
    model.fit(x, y)
    worst = float(np.max(np.abs(model.predict(x) - y)))
    print(f"fitted E(T, rho) on {len(y)} runs: R^2 = {model.score(x, y):.4f}, largest error {worst:.3f}")
    return model


def package(model: Any, folder: Path, version: str, own_env: bool) -> Path:
    saved = folder.parent / "model.joblib"
    joblib.dump(model, saved)
    scaffold(
        folder,
        NAME,
        "sklearn",
        model_file=saved,
        inputs=["temperature", "density"],
        outputs=["energy"],
        description="Total energy per atom (eps) of a Lennard-Jones liquid after 500 NVT steps",
        version=version,
        force=True,
    )
    if own_env:
        manifest = folder / "calchub-model.yaml"
        manifest.write_text(manifest.read_text().replace("python: server", "python: venv"))
    return folder


def next_version(client: Client) -> str:
    try:
        versions = client.model_versions(NAME)
    except NotFound:
        return "1"
    numbers = [int(m.version) for m in versions if m.version.isdigit()]
    return str(max(numbers, default=0) + 1)


def check_held_out(client: Client, predicted: float) -> None:
    temperature, density = HELD_OUT
    calc = client.submit(type="lammps", inputs=RUN | {"temperature": temperature, "density": density})
    done = client.wait(calc.id, timeout=600)
    ran = next(s.value for s in client.results(done.id).scalars if s.name == ENERGY)
    print(f"LAMMPS at T={temperature}, rho={density}: {ran:.3f}; the model said {predicted:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="lj-energy-grid", help="the sweep's study (reused if it exists)")
    parser.add_argument("--package", type=Path, help="where to write the package (a temporary folder)")
    parser.add_argument("--own-env", action="store_true", help="run the model in its own virtual environment")
    parser.add_argument("--no-check", action="store_true", help="do not run LAMMPS at the held-out point")
    options = parser.parse_args()
    with Client() as client, tempfile.TemporaryDirectory() as scratch:
        sweep(client, options.study)
        model = fit(*training_data(client, options.study))
        folder = package(
            model, options.package or Path(scratch) / NAME, next_version(client), options.own_env
        )
        registered = client.register_model(folder)
        print(f"registered {registered.name} {registered.version}; starting it ...")
        client.start_model(NAME, registered.version)
        served = client.wait_model(NAME, registered.version, timeout=900)
        if served.state != "healthy":
            raise SystemExit(f"{NAME} is {served.state}: {served.message}\n{client.model_logs(NAME).text}")
        points = [list(HELD_OUT), [1.0, 0.75], [1.8, 0.85]]
        answer = client.predict(NAME, {"instances": points}, version=registered.version)
        for (temperature, density), energy in zip(points, answer["predictions"], strict=True):
            print(f"  E(T={temperature}, rho={density}) = {energy:.3f} eps/atom")
        if not options.no_check:
            check_held_out(client, answer["predictions"][0])
        print(f"`calchub model predict {NAME} '{{\"instances\": [[1.2, 0.8]]}}'` asks it again")


if __name__ == "__main__":
    main()
