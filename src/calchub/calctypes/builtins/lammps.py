"""``lammps``: molecular dynamics of a Lennard-Jones liquid with Debian's LAMMPS (``lmp``).

An fcc lattice of ``4 * cells**3`` atoms at the given reduced density is given
random velocities at the given temperature and run for ``steps`` steps (NVE, or
NVT with a Nosé-Hoover thermostat) in reduced LJ units: energies in ε per atom,
temperature in ε/k_B, pressure in ε/σ³, time in τ.

The potential is shifted to zero at its cutoff (2.5 particle diameters), so
NVE runs conserve energy to about 1e-5 at the default timestep and the
``energy_drift`` analysis means something. The run counts as good only when the log shows it reached its
last step (one ``Loop time`` line for the requested steps, a last thermo row at
that step, ``Total wall time``, no ``ERROR``, no ``nan``). The thermo table and a
few scalars are kept, together with the log and the input; the trajectory dump
is deleted once they are extracted.
"""

from __future__ import annotations

import math
from typing import Any

from calchub.calctypes.api import Analysis, AnalysisContext, CalcType, RunDir
from calchub.calctypes.builtins.lammps_log import Log, parse
from calchub.calctypes.figures import Series, line_chart
from calchub.calctypes.inputs import with_defaults
from calchub.calctypes.results import Results

#: Atom-steps one run may ask for: about half an hour of one core for the LJ liquid.
MAX_WORK = 5_000_000_000
#: Thermo rows one run may print; the table is kept in the results.
MAX_THERMO_ROWS = 100_000
#: The trajectory dump one run may write (measured: about 33 bytes per atom per frame).
MAX_DUMP_BYTES = 1_000_000_000
DUMP_BYTES_PER_ATOM = 34
LOG = "log.lammps"

TEMPLATE = """\
# Lennard-Jones liquid, {{ 4 * cells ** 3 }} atoms, written by calchub's lammps type
units           lj
atom_style      atomic
lattice         fcc {{ density }}
region          box block 0 {{ cells }} 0 {{ cells }} 0 {{ cells }}
create_box      1 box
create_atoms    1 box
mass            1 1.0
velocity        all create {{ temperature }} {{ seed }} loop geom
pair_style      lj/cut 2.5
pair_coeff      1 1 1.0 1.0 2.5
pair_modify     shift yes
neighbor        0.3 bin
neigh_modify    every 1 delay 0 check yes
{% if ensemble == "nvt" -%}
fix             1 all nvt temp {{ temperature }} {{ temperature }} 0.5
{% else -%}
fix             1 all nve
{% endif -%}
timestep        {{ timestep }}
thermo_style    custom step temp pe ke etotal press
thermo_modify   flush yes
thermo          {{ thermo_every }}
dump            d1 all atom {{ dump_every }} dump.lj.atom
run             {{ steps }}
"""

#: Thermo header word -> (column, unit). Energies are per atom (``thermo_modify norm yes``).
COLUMNS = {
    "Step": ("step", ""),
    "Temp": ("temperature", "ε/k_B"),
    "PotEng": ("potential_energy", "ε/atom"),
    "KinEng": ("kinetic_energy", "ε/atom"),
    "TotEng": ("total_energy", "ε/atom"),
    "Press": ("pressure", "ε/σ³"),
}
#: What to do about an ERROR LAMMPS reports, by a phrase in it.
HINTS = {
    "Lost atoms": "lower the timestep or temperature",
    "Non-numeric atom coords": "lower the timestep or temperature",
    "Out of range atoms": "lower the timestep or temperature",
}


def _number(description: str, default: float, maximum: float) -> dict[str, Any]:
    return {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": maximum,
        "default": default,
        "description": description,
    }


def _integer(description: str, default: int, maximum: int) -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": 1,
        "maximum": maximum,
        "default": default,
        "description": description,
    }


def _floats(results: Results, column: str) -> list[float]:
    return [float(v) for v in results.column("thermo", column) if isinstance(v, int | float)]


def _relative(change: float, reference: float) -> float | None:
    return change / abs(reference) if reference != 0 else None


def energy_drift(ctx: AnalysisContext) -> None:
    """Relative change of the total energy over the run, and from the second thermo row on."""
    energy = _floats(ctx.results, "total_energy")
    if len(energy) < 2:
        raise ValueError("energy drift needs at least two thermo rows")
    ctx.results.scalar("energy_drift", _relative(energy[-1] - energy[0], energy[0]))
    ctx.results.scalar("energy_drift_after_equilibration", _relative(energy[-1] - energy[1], energy[1]))
    ctx.results.scalar("energy_change", energy[-1] - energy[0], "ε/atom")


def energy_plot(ctx: AnalysisContext) -> None:
    """Total, potential and kinetic energy per atom against step, with temperature on the right."""
    step = _floats(ctx.results, "step")
    series = [
        Series("total", step, _floats(ctx.results, "total_energy")),
        Series("potential", step, _floats(ctx.results, "potential_energy")),
        Series("kinetic", step, _floats(ctx.results, "kinetic_energy")),
        Series("temperature", step, _floats(ctx.results, "temperature"), right=True),
    ]
    ensemble = str(ctx.inputs.get("ensemble", "nve")).upper()
    title = f"LJ liquid, {ensemble}: energy and temperature"
    svg = line_chart(series, title, "step", "energy per atom (ε)", "temperature (ε/k_B)")
    ctx.figure("energy", svg, title)


class Lammps(CalcType):
    name = "lammps"
    version = "1.1"
    title = "LAMMPS Lennard-Jones liquid"
    description = (
        "Molecular dynamics of a Lennard-Jones liquid (reduced units) with LAMMPS: thermo table, "
        "energy drift and an energy/temperature plot."
    )
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "temperature": _number("initial (and, for nvt, target) temperature in ε/k_B", 1.44, 5),
            "density": _number("reduced number density ρσ³ of the starting fcc lattice", 0.8442, 1.2),
            "cells": _integer("fcc unit cells per box side; the box holds 4·cells³ atoms", 5, 30),
            "steps": _integer("number of MD timesteps to run", 1000, 1_000_000),
            "timestep": _number("timestep in the LJ time unit τ", 0.005, 0.02),
            "seed": _integer("random seed for the initial velocities", 87287, 900_000_000),
            "thermo_every": _integer("print a thermo row every this many steps", 50, 100_000),
            "dump_every": _integer("write the atom positions every this many steps", 100, 100_000),
            "ensemble": {
                "enum": ["nve", "nvt"],
                "default": "nve",
                "description": "nve: constant energy; nvt: Nosé-Hoover thermostat at temperature (0.5 τ)",
            },
        },
    }
    templates = {"in.lj": TEMPLATE}
    command = ["lmp", "-in", "in.lj", "-log", LOG, "-nocite"]
    # Open MPI's session folder in the work folder, not a /tmp one shared by every run: two
    # runs starting at the same moment on a fresh machine raced to make it, and one died.
    env = {"OMP_NUM_THREADS": "1", "OMPI_MCA_orte_tmpdir_base": "."}
    resources = {"cores": 1, "walltime": 3600}
    keep = [LOG, "in.lj"]
    cleanup = ["dump.*"]
    provides = ("thermo", "atoms", "loop_time")
    analyses = (
        Analysis(
            "energy_drift",
            energy_drift,
            needs=("thermo",),
            description="relative change of the total energy, (E_last - E_first)/|E_first|, also from row 2",
        ),
        Analysis(
            "energy_plot",
            energy_plot,
            needs=("thermo",),
            description="energies and temperature against step (figure 'energy')",
        ),
    )

    def check(self, inputs: dict[str, Any], analyses: list[str]) -> list[tuple[str, str, str]]:
        steps, atoms = inputs["steps"], atoms_for(inputs["cells"])
        problems = []
        if inputs["thermo_every"] > steps:
            problems.append(
                (
                    "inputs.thermo_every",
                    "max",
                    f"must be at most steps ({steps}); a thermo row is printed every thermo_every steps",
                )
            )
        if atoms * steps > MAX_WORK:
            most = MAX_WORK // atoms
            problems.append(
                (
                    "inputs.steps",
                    "work",
                    f"{atoms} atoms * {steps} steps is over the cap of {MAX_WORK:.0e} atom-steps; "
                    f"lower steps to at most {most} or lower cells",
                )
            )
        problems += _output_problems(inputs, atoms)
        return problems

    def default_analyses(self, inputs: dict[str, Any]) -> list[str]:
        """Energy drift means nothing under a thermostat, so an nvt run skips it unless asked."""
        chosen = super().default_analyses(inputs)
        return [a for a in chosen if a != "energy_drift"] if inputs.get("ensemble") == "nvt" else chosen

    def context(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The inputs, integral numbers as ints: JSON Schema takes 1000.0 as an integer, LAMMPS does not."""
        integers = [k for k, spec in self.schema["properties"].items() if spec.get("type") == "integer"]
        return {k: int(v) if k in integers and isinstance(v, float) else v for k, v in inputs.items()}

    def validate(self, run: RunDir) -> list[str]:
        inputs = with_defaults(self.schema, run.inputs)
        text = run.text(LOG) or run.stdout()
        if not text.strip():
            return [f"there is no {LOG} and no output: LAMMPS did not start (exit code {run.exit_code})"]
        problems = log_problems(parse(text), int(inputs["steps"]), atoms_for(int(inputs["cells"])))
        if run.exit_code not in (0, None):
            problems.append(f"lmp exited with code {run.exit_code}")
        return problems

    def extract(self, run: RunDir, results: Results) -> None:
        log = parse(run.text(LOG))
        missing = [word for word in COLUMNS if word not in log.columns]
        if missing or not log.loops:
            raise ValueError(f"{LOG} has no complete thermo table (missing: {', '.join(missing) or 'Loop'})")
        _thermo_table(log, results)
        loop = log.loops[-1]
        results.scalar("atoms", loop.atoms)
        results.scalar("steps", loop.steps)
        results.scalar("loop_time", loop.seconds, "s")
        results.scalar("timesteps_per_second", log.timesteps_per_second, "steps/s")
        temperature = log.column("Temp")
        second_half = [
            t for step, t in zip(log.column("Step"), temperature, strict=True) if step >= loop.steps / 2
        ]
        results.scalar("final_temperature", temperature[-1], "ε/k_B")
        results.scalar("mean_temperature", sum(second_half) / len(second_half), "ε/k_B")
        results.scalar("final_total_energy", log.column("TotEng")[-1], "ε/atom")
        results.scalar("final_pressure", log.column("Press")[-1], "ε/σ³")


def atoms_for(cells: int) -> int:
    return 4 * cells**3


def _output_problems(inputs: dict[str, Any], atoms: int) -> list[tuple[str, str, str]]:
    steps, thermo_every, dump_every = inputs["steps"], inputs["thermo_every"], inputs["dump_every"]
    problems = []
    if steps // thermo_every + 2 > MAX_THERMO_ROWS:
        least = math.ceil(steps / (MAX_THERMO_ROWS - 2))
        message = (
            f"{steps} steps would print over {MAX_THERMO_ROWS} thermo rows; raise it to at least {least}"
        )
        problems.append(("inputs.thermo_every", "rows", message))
    frames = steps // dump_every + 1
    size = DUMP_BYTES_PER_ATOM * atoms * frames
    if size > MAX_DUMP_BYTES:
        least = math.ceil(steps / (MAX_DUMP_BYTES // (DUMP_BYTES_PER_ATOM * atoms) - 1))
        message = (
            f"the dump would be about {size / 1e9:.1f} GB ({frames} frames of {atoms} atoms), over "
            f"{MAX_DUMP_BYTES / 1e9:g} GB; raise it to at least {least}"
        )
        problems.append(("inputs.dump_every", "size", message))
    return problems


def log_problems(log: Log, steps: int, atoms: int) -> list[str]:
    """Why a parsed log does not show a run that reached ``steps`` with ``atoms`` atoms; [] if it does."""
    if log.errors:
        return [_error_problem(log)]
    if not log.columns:
        return ["the log has no thermo table: LAMMPS stopped before the run began"]
    if not log.loops:
        return [_stopped(log, steps), *_nan_problems(log)]
    problems = _nan_problems(log)
    if len(log.loops) > 1:
        problems.append(f"the log holds {len(log.loops)} runs ('Loop time' lines); this type runs one")
    loop = log.loops[-1]
    if loop.steps != steps:
        problems.append(f"LAMMPS ran {loop.steps} steps, not the {steps} asked for")
    if loop.atoms != atoms:
        problems.append(f"the run had {loop.atoms} atoms, not the {atoms} (4·cells³) expected")
    if log.last_step != steps:
        problems.append(f"the last thermo row is for step {log.last_step}, not {steps}")
    if not log.finished:
        problems.append("the log has no 'Total wall time' line: LAMMPS did not finish cleanly")
    return problems


def _error_problem(log: Log) -> str:
    error = log.errors[0]
    hint = next((h for phrase, h in HINTS.items() if phrase in error), "")
    context = [f"last command: {log.last_command}"] if log.last_command else []
    if log.last_step is not None:
        context.append(f"last thermo row: step {log.last_step}")
    where = f" ({'; '.join(context)})" if context else ""
    return f"LAMMPS reported: {error}{where}" + (f" — {hint}" if hint else "")


def _stopped(log: Log, steps: int) -> str:
    if log.last_step is None:
        reached = "before its first thermo row"
    else:
        reached = f"at step {log.last_step} of {steps}"
    if log.cut_row:
        how = "the log ends mid-row, the process was likely killed"
    else:
        how = "the log ends without a 'Loop time' line, the process was likely killed (walltime, memory)"
    return f"the run stopped {reached}: {how}"


def _nan_problems(log: Log) -> list[str]:
    bad = log.bad_rows()
    if not bad:
        return []
    first = bad[0]
    names = [name for name, value in zip(log.columns, first, strict=True) if not math.isfinite(value)]
    return [
        f"{len(bad)} thermo rows hold nan or inf, first at step {int(first[0])} ({', '.join(names)}): "
        "the simulation is unstable — lower the timestep or temperature"
    ]


def _thermo_table(log: Log, results: Results) -> None:
    indices = [log.columns.index(word) for word in COLUMNS]
    rows = [[int(row[indices[0]]), *(row[i] for i in indices[1:])] for row in log.rows]
    names, units = zip(*COLUMNS.values(), strict=True)
    results.table("thermo", names, rows, units)
