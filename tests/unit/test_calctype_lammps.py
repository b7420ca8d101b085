"""The ``lammps`` type without running LAMMPS: inputs, rendering, log reading, validation, analyses.

The logs are cut from real runs of Debian's ``lmp`` (LAMMPS 29 Sep 2021) with
the rendered ``in.lj`` (500 atoms, 200 steps, thermo every 50).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from calchub.calctypes.api import AnalysisContext, RunDir
from calchub.calctypes.builtins.lammps import Lammps, energy_drift, energy_plot
from calchub.calctypes.builtins.lammps_log import Loop, parse
from calchub.calctypes.inputs import check_request
from calchub.calctypes.postprocess import postprocess
from calchub.calctypes.registry import BUILTINS, Registry, register_check
from calchub.calctypes.results import Results


def lines(*rows: str) -> str:
    """Log lines as LAMMPS writes them: header and row lines end in a space."""
    return "".join(f"{row} \n" if row[:1] == " " or row.startswith("Step") else f"{row}\n" for row in rows)


HEAD = lines(
    "LAMMPS (29 Sep 2021 - Update 2)",
    "  using 1 OpenMP thread(s) per MPI task",
    "Created 500 atoms",
    "thermo_modify   flush yes",
    "run             200",
    "Per MPI rank memory allocation (min/avg/max) = 4.163 | 4.163 | 4.163 Mbytes",
    "Step Temp PotEng KinEng TotEng Press",
)
ROWS = [
    "       0         1.44    -6.332812      2.15568    -4.177132   -5.0221006",
    "      50   0.70150496   -5.2272259    1.0501529   -4.1770729   0.59551518",
    "     100   0.75627629   -5.3092462    1.1321456   -4.1771006   0.21876936",
    "     150   0.76193508   -5.3177452    1.1406168   -4.1771284   0.14150154",
    "     200   0.75199164   -5.3029747    1.1257315   -4.1772432   0.22831662",
]
TAIL = lines(
    "Loop time of 0.0309173 on 1 procs for 200 steps with 500 atoms",
    "",
    "Performance: 2794547.760 tau/day, 6468.861 timesteps/s",
    "99.9% CPU use with 1 MPI tasks x 1 OpenMP threads",
    "",
    "Neighbor list builds = 20",
    "Dangerous builds = 0",
    "Total wall time: 0:00:00",
)
GOOD = HEAD + lines(*ROWS) + TAIL
#: SIGKILL without ``thermo_modify flush yes``: the log stops in the middle of a row.
KILLED_MID_ROW = HEAD + lines(*ROWS[:3]) + "     150   0.76193508   -5.3177452    1."
#: SIGKILL with flush: the log ends on a whole row, with no Loop line.
KILLED_FLUSHED = HEAD + lines(*ROWS[:4])
#: timestep 0.5: the atoms fly out of the box after the first row; exit code 1.
LOST_ATOMS = (
    HEAD
    + lines(ROWS[0])
    + lines(
        "ERROR: Lost atoms: original 500 current 3 (src/thermo.cpp:439)", "Last command: run             200"
    )
)
#: temperature -1: every row is nan, yet LAMMPS finishes the run and exits 0.
NAN_ROWS = (
    HEAD
    + lines(
        "       0         -nan    -6.332812         -nan         -nan         -nan",
        *(
            f"     {step:3d}         -nan            0         -nan         -nan         -nan"
            for step in (50, 100)
        ),
        *(
            f"     {step:3d}         -nan            0         -nan         -nan         -nan"
            for step in (150, 200)
        ),
    )
    + TAIL
)
DEFAULTS = check_request(Lammps(), {}, [], None)[0]


def problems_for(inputs: dict[str, Any]) -> list[tuple[str, str, str]]:
    _, _, problems = check_request(Lammps(), inputs, [], None)
    return [(p.field, p.rule, p.message) for p in problems]


def run_dir(tmp_path: Path, log: str | None, exit_code: int = 0, **inputs: Any) -> RunDir:
    if log is not None:
        (tmp_path / "log.lammps").write_text(log)
    return RunDir(tmp_path, DEFAULTS | {"steps": 200} | inputs, exit_code)


# -- inputs ----------------------------------------------------------------------


def test_the_type_registers_and_is_a_builtin() -> None:
    register_check(Lammps())
    registry = Registry()
    registry.add(Lammps(), "test")
    assert registry.get("lammps").version == "1.1"
    assert not registry.refused
    assert "calchub.calctypes.builtins.lammps" in BUILTINS


def test_every_input_has_a_default_and_a_description() -> None:
    for name, spec in Lammps.schema["properties"].items():
        assert "default" in spec, name
        assert spec["description"], name
    filled, chosen, problems = check_request(Lammps(), {}, [], None)
    assert problems == []
    assert filled == {
        "temperature": 1.44,
        "density": 0.8442,
        "cells": 5,
        "steps": 1000,
        "timestep": 0.005,
        "seed": 87287,
        "thermo_every": 50,
        "dump_every": 100,
        "ensemble": "nve",
    }
    assert chosen == ["energy_drift", "energy_plot"]


@pytest.mark.parametrize(
    ("inputs", "field", "rule"),
    [
        ({"temperature": -1}, "inputs.temperature", "exclusiveMinimum"),
        ({"temperature": 0}, "inputs.temperature", "exclusiveMinimum"),
        ({"temperature": 6}, "inputs.temperature", "maximum"),
        ({"density": 1.5}, "inputs.density", "maximum"),
        ({"cells": 0}, "inputs.cells", "minimum"),
        ({"cells": 2.5}, "inputs.cells", "type"),
        ({"steps": "many"}, "inputs.steps", "type"),
        ({"steps": True}, "inputs.steps", "type"),
        ({"timestep": 0.5}, "inputs.timestep", "maximum"),
        ({"seed": 0}, "inputs.seed", "minimum"),
        ({"ensemble": "npt"}, "inputs.ensemble", "enum"),
        ({"pressure": 1.0}, "inputs.pressure", "additionalProperties"),
    ],
)
def test_bad_inputs_are_refused_naming_the_field(inputs: dict[str, Any], field: str, rule: str) -> None:
    assert [(f, r) for f, r, _ in problems_for(inputs)] == [(field, rule)]


def test_thermo_every_may_not_exceed_steps() -> None:
    [(field, rule, message)] = problems_for({"steps": 100, "thermo_every": 500})
    assert (field, rule) == ("inputs.thermo_every", "max")
    assert "at most steps (100)" in message
    assert problems_for({"steps": 100, "thermo_every": 100}) == []


def test_too_much_work_is_refused_saying_what_to_lower() -> None:
    [(field, rule, message)] = problems_for({"cells": 30, "steps": 1_000_000, "dump_every": 100_000})
    assert (field, rule) == ("inputs.steps", "work")
    assert "108000 atoms * 1000000 steps" in message
    assert "lower steps to at most 46296" in message
    assert problems_for({"cells": 30, "steps": 46296, "dump_every": 100_000}) == []


def test_too_many_thermo_rows_are_refused() -> None:
    [(field, rule, message)] = problems_for({"cells": 1, "steps": 1_000_000, "thermo_every": 1})
    assert (field, rule) == ("inputs.thermo_every", "rows")
    least = int(message.rsplit(" ", 1)[1])
    assert problems_for({"cells": 1, "steps": 1_000_000, "thermo_every": least}) == []


def test_a_huge_dump_is_refused_with_a_dump_every_that_fits() -> None:
    inputs = {"cells": 20, "steps": 100_000, "dump_every": 10}
    [(field, rule, message)] = problems_for(inputs)
    assert (field, rule) == ("inputs.dump_every", "size")
    assert "about 10.9 GB (10001 frames of 32000 atoms)" in message
    least = int(message.rsplit(" ", 1)[1])
    assert problems_for(inputs | {"dump_every": least}) == []


def test_nvt_runs_skip_the_energy_drift_unless_asked() -> None:
    _, chosen, _ = check_request(Lammps(), {"ensemble": "nvt"}, [], None)
    assert chosen == ["energy_plot"]
    _, chosen, problems = check_request(Lammps(), {"ensemble": "nvt"}, [], ["energy_drift"])
    assert (chosen, problems) == (["energy_drift"], [])


# -- rendering -------------------------------------------------------------------


def test_prepare_renders_the_input_and_the_command() -> None:
    prepared = Lammps().prepare(DEFAULTS)
    assert prepared.command == ["lmp", "-in", "in.lj", "-log", "log.lammps", "-nocite"]
    assert prepared.env == {"OMP_NUM_THREADS": "1", "OMPI_MCA_orte_tmpdir_base": "."}
    assert prepared.resources == {"cores": 1, "walltime": 3600}
    assert prepared.keep == ["log.lammps", "in.lj"]
    assert Lammps.cleanup == ["dump.*"]
    script = [" ".join(line.split()) for line in prepared.files["in.lj"].splitlines()]
    for line in [
        "units lj",
        "lattice fcc 0.8442",
        "region box block 0 5 0 5 0 5",
        "velocity all create 1.44 87287 loop geom",
        "pair_style lj/cut 2.5",
        "pair_modify shift yes",
        "neigh_modify every 1 delay 0 check yes",
        "fix 1 all nve",
        "timestep 0.005",
        "thermo_style custom step temp pe ke etotal press",
        "thermo_modify flush yes",
        "thermo 50",
        "dump d1 all atom 100 dump.lj.atom",
        "run 1000",
    ]:
        assert line in script
    assert script[0].startswith("# Lennard-Jones liquid, 500 atoms")


def test_nvt_renders_a_thermostat_at_the_temperature() -> None:
    script = Lammps().prepare(DEFAULTS | {"ensemble": "nvt", "temperature": 0.9}).files["in.lj"]
    assert "fix             1 all nvt temp 0.9 0.9 0.5\n" in script
    assert "all nve" not in script


def test_integral_floats_render_as_integers() -> None:
    filled, _, problems = check_request(Lammps(), {"steps": 2000.0, "cells": 3.0, "seed": 5.0}, [], None)
    assert problems == []
    script = Lammps().prepare(filled).files["in.lj"]
    assert "run             2000\n" in script
    assert "block 0 3 0 3 0 3" in script
    assert "create 1.44 5 loop" in script


# -- the log ---------------------------------------------------------------------


def test_parse_reads_the_table_and_the_trailer() -> None:
    log = parse(GOOD)
    assert log.columns == ["Step", "Temp", "PotEng", "KinEng", "TotEng", "Press"]
    assert [int(s) for s in log.column("Step")] == [0, 50, 100, 150, 200]
    assert log.rows[-1] == [200, 0.75199164, -5.3029747, 1.1257315, -4.1772432, 0.22831662]
    assert log.loops == [Loop(0.0309173, 1, 200, 500)]
    assert log.timesteps_per_second == 6468.861
    assert log.finished
    assert (log.errors, log.cut_row, log.bad_rows()) == ([], "", [])


def test_parse_skips_warnings_inside_the_table() -> None:
    text = HEAD + lines(
        *ROWS[:2], "WARNING: Temperature for thermostat is 0 (src/compute_temp.cpp:60)", *ROWS[2:]
    )
    assert parse(text + TAIL).last_step == 200
    assert len(parse(text + TAIL).rows) == 5


def test_parse_notes_a_row_cut_mid_line() -> None:
    log = parse(KILLED_MID_ROW)
    assert log.last_step == 100
    assert log.cut_row == "150   0.76193508   -5.3177452    1."
    assert not log.loops and not log.finished


def test_parse_drops_a_last_row_that_lacks_its_newline() -> None:
    log = parse(HEAD + lines(*ROWS[:4]) + ROWS[4][:-3])
    assert log.last_step == 150
    assert log.cut_row.startswith("200")


def test_parse_keeps_nan_rows_for_the_validator() -> None:
    log = parse(NAN_ROWS)
    assert len(log.rows) == 5
    assert len(log.bad_rows()) == 5


def test_parse_reads_an_error_and_the_last_command() -> None:
    log = parse(LOST_ATOMS)
    assert log.errors == ["ERROR: Lost atoms: original 500 current 3 (src/thermo.cpp:439)"]
    assert log.last_command == "run 200"
    assert log.last_step == 0


# -- validation ------------------------------------------------------------------


def test_a_complete_log_is_valid(tmp_path: Path) -> None:
    assert Lammps().validate(run_dir(tmp_path, GOOD)) == []


def test_a_killed_run_names_the_step_it_reached(tmp_path: Path) -> None:
    [problem] = Lammps().validate(run_dir(tmp_path, KILLED_MID_ROW))
    assert (
        problem == "the run stopped at step 100 of 200: the log ends mid-row, the process was likely killed"
    )


def test_a_killed_run_with_a_flushed_log_is_invalid_too(tmp_path: Path) -> None:
    [problem] = Lammps().validate(run_dir(tmp_path, KILLED_FLUSHED))
    assert problem.startswith("the run stopped at step 150 of 200: the log ends without a 'Loop time' line")


def test_a_lammps_error_is_quoted_with_advice(tmp_path: Path) -> None:
    [problem, exit_code] = Lammps().validate(run_dir(tmp_path, LOST_ATOMS, exit_code=1))
    assert problem == (
        "LAMMPS reported: ERROR: Lost atoms: original 500 current 3 (src/thermo.cpp:439) "
        "(last command: run 200; last thermo row: step 0) — lower the timestep or temperature"
    )
    assert exit_code == "lmp exited with code 1"


def test_nan_rows_are_invalid_even_when_the_run_finished(tmp_path: Path) -> None:
    [problem] = Lammps().validate(run_dir(tmp_path, NAN_ROWS))
    assert problem.startswith("5 thermo rows hold nan or inf, first at step 0 (Temp, KinEng, TotEng, Press)")
    assert "lower the timestep or temperature" in problem


def test_a_log_for_other_inputs_is_invalid(tmp_path: Path) -> None:
    problems = Lammps().validate(run_dir(tmp_path, GOOD, steps=300, cells=4))
    assert problems == [
        "LAMMPS ran 200 steps, not the 300 asked for",
        "the run had 500 atoms, not the 256 (4·cells³) expected",
        "the last thermo row is for step 200, not 300",
    ]


def test_a_log_without_its_last_line_is_invalid(tmp_path: Path) -> None:
    text = GOOD.replace("Total wall time: 0:00:00\n", "")
    assert Lammps().validate(run_dir(tmp_path, text)) == [
        "the log has no 'Total wall time' line: LAMMPS did not finish cleanly"
    ]


def test_without_a_log_the_output_is_read(tmp_path: Path) -> None:
    (tmp_path / ".calchub").mkdir()
    error = "ERROR on proc 0: Cannot open input script in.lj: No such file or directory (src/lammps.cpp:530)"
    (tmp_path / ".calchub" / "stdout").write_text(lines("LAMMPS (29 Sep 2021 - Update 2)", error))
    assert Lammps().validate(run_dir(tmp_path, None, exit_code=1)) == [
        f"LAMMPS reported: {error}",
        "lmp exited with code 1",
    ]


def test_no_output_at_all_means_lammps_did_not_start(tmp_path: Path) -> None:
    [problem] = Lammps().validate(run_dir(tmp_path, None, exit_code=127))
    assert problem == "there is no log.lammps and no output: LAMMPS did not start (exit code 127)"


# -- extraction and analyses -----------------------------------------------------


def test_extract_records_the_thermo_table_and_scalars(tmp_path: Path) -> None:
    results = Results()
    Lammps().extract(run_dir(tmp_path, GOOD), results)
    table = results.tables["thermo"]
    assert table.columns == [
        "step",
        "temperature",
        "potential_energy",
        "kinetic_energy",
        "total_energy",
        "pressure",
    ]
    assert table.units == ["", "ε/k_B", "ε/atom", "ε/atom", "ε/atom", "ε/σ³"]
    assert table.rows[0] == [0, 1.44, -6.332812, 2.15568, -4.177132, -5.0221006]
    assert isinstance(table.rows[0][0], int)
    values = {name: s.value for name, s in results.scalars.items()}
    assert values == {
        "atoms": 500,
        "steps": 200,
        "loop_time": 0.0309173,
        "timesteps_per_second": 6468.861,
        "final_temperature": 0.75199164,
        "mean_temperature": pytest.approx((0.75627629 + 0.76193508 + 0.75199164) / 3),
        "final_total_energy": -4.1772432,
        "final_pressure": 0.22831662,
    }
    assert results.scalars["loop_time"].unit == "s"
    assert set(Lammps.provides) <= results.names()


def test_extract_finds_the_columns_by_name(tmp_path: Path) -> None:
    text = GOOD.replace("Step Temp PotEng KinEng TotEng Press", "Step Press TotEng KinEng PotEng Temp")
    results = Results()
    Lammps().extract(run_dir(tmp_path, text), results)
    assert results.tables["thermo"].rows[0] == [0, -5.0221006, -4.177132, 2.15568, -6.332812, 1.44]


def synthetic(tmp_path: Path) -> AnalysisContext:
    results = Results()
    results.table(
        "thermo",
        ["step", "temperature", "potential_energy", "kinetic_energy", "total_energy", "pressure"],
        [
            [0, 1.44, -6.0, 2.0, -4.0, -5.0],
            [50, 0.7, -5.2, 1.1, -4.1, 0.6],
            [100, 0.8, -5.3, 1.1, -4.2, 0.2],
        ],
    )
    return AnalysisContext(RunDir(tmp_path, dict(DEFAULTS)), results)


def test_energy_drift_is_relative_to_the_first_and_second_rows(tmp_path: Path) -> None:
    ctx = synthetic(tmp_path)
    energy_drift(ctx)
    assert ctx.results.value("energy_drift") == pytest.approx(-0.2 / 4.0)
    assert ctx.results.value("energy_drift_after_equilibration") == pytest.approx(-0.1 / 4.1)
    assert ctx.results.value("energy_change") == pytest.approx(-0.2)
    assert ctx.results.scalars["energy_change"].unit == "ε/atom"


def test_energy_drift_of_a_zero_energy_is_unknown_not_infinite(tmp_path: Path) -> None:
    ctx = synthetic(tmp_path)
    ctx.results.table("thermo", ["step", "total_energy"], [[0, 0.0], [50, 0.0], [100, 0.5]])
    energy_drift(ctx)
    assert ctx.results.value("energy_drift") is None
    assert ctx.results.value("energy_change") == 0.5


def test_energy_plot_draws_four_series_on_two_axes(tmp_path: Path) -> None:
    ctx = synthetic(tmp_path)
    energy_plot(ctx)
    figure = ctx.results.figures["energy"]
    assert figure.path == "figures/energy.svg"
    assert figure.title == "LJ liquid, NVE: energy and temperature"
    svg = (tmp_path / "figures" / "energy.svg").read_text()
    assert svg.count("<polyline") == 4
    for label in ("total", "potential", "kinetic", "temperature (ε/k_B)", "energy per atom (ε)"):
        assert f">{label}<" in svg


def test_postprocess_of_a_captured_run_keeps_the_log_and_frees_the_dump(tmp_path: Path) -> None:
    run = run_dir(tmp_path, GOOD)
    (tmp_path / "in.lj").write_text(Lammps().prepare(run.inputs).files["in.lj"])
    (tmp_path / "dump.lj.atom").write_bytes(b"x" * 1234)
    done = postprocess(Lammps(), run, ["energy_drift", "energy_plot"], Lammps.keep)
    assert (done.verdict, done.message) == ("completed", None)
    assert (done.results.bytes_freed, done.results.files_removed) == (1234, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures", "in.lj", "log.lammps"]
    drift = next(s for s in done.results.scalars if s.name == "energy_drift")
    assert drift.value == pytest.approx((-4.1772432 + 4.177132) / 4.177132)
    assert drift.source == "energy_drift"


def test_postprocess_of_a_killed_run_is_invalid_and_keeps_everything(tmp_path: Path) -> None:
    run = run_dir(tmp_path, KILLED_MID_ROW)
    (tmp_path / "dump.lj.atom").write_bytes(b"x" * 10)
    done = postprocess(Lammps(), run, ["energy_drift", "energy_plot"], Lammps.keep)
    assert done.verdict == "invalid"
    assert done.message is not None and "stopped at step 100 of 200" in done.message
    assert (tmp_path / "dump.lj.atom").exists()
    assert done.results.tables == []
