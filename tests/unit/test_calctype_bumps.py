"""The ``bumps`` calculation type without running bumps: inputs, command, readers, validation, results.

The file texts below were captured from real bumps 1.0.5 runs of tests/data/bumps/model.py.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from calchub.calctypes.api import RunDir
from calchub.calctypes.builtins import bumps_files as files
from calchub.calctypes.builtins.bumps import OPTIONS, Bumps, option_flags
from calchub.calctypes.inputs import InputProblem, check_request
from calchub.calctypes.postprocess import postprocess
from calchub.calctypes.registry import discover, register_check
from calchub.contracts.results import RESULT_NAME

FIT_JSON: dict[str, Any] = {
    "chisq": 1.2269222931650174,
    "dof": 18,
    "dx": [0.21547290184355228, 0.03877833671682865],
    "fun": 11.042300638485157,
    "labels": ["intercept", "slope"],
    "message": "successful termination",
    "method": "lm",
    "nit": 0,
    "numpoints": 20,
    "options": {
        "fit": "lm",
        "ftol": 1e-10,
        "jump": 0.0,
        "starts": 1,
        "steps": 200,
        "time": 0.0,
        "xtol": 1e-10,
    },
    "status": 0,
    "success": True,
    "x": [-1.2400814285712756, 2.5506551218043274],
}
PAR = "intercept -1.24008142857128\nslope 2.55065512180433\n"
OUT = "-- Model 0 \n" + (  # bumps ends the first line with a space
    ".intercept = -1.24008 in [-10,10]\n"
    ".slope = 2.55066 in [-10,10]\n"
    "\n"
    "[chisq=1.23(13), nllf=11.0423]\n"
    "[overall chisq=1.23(13), nllf=11.0423]\n"
)
STDOUT = """\
step 1 cost 256.83(13)
                               intercept ....|.....          0 in [-10, 10]
                                   slope .....|....          1 in [-10, 10]
step 2 cost 1.23(13) [final]
                               intercept ....|.....   -1.24008 in [-10, 10]
                                   slope ......|...    2.55066 in [-10, 10]
time 3.2 milliseconds
"""
DE_STDERR = (
    "2026-11-24 08:53:54,364 - ERROR - Error writing model-fit.json: "
    "'dict' object has no attribute 'total_generations'\n"
)
CURVE = "# x\t y\t dy\t fy\n" + "".join(
    f"{x:.18e} {2.5 * x - 1.0:.18e} {0.5:.18e} {2.55 * x - 1.24:.18e}\n" for x in (0.0, 0.5, 1.0, 1.5)
)
ERR_JSON = {
    label: {
        "best": best,
        "index": index,
        "integer": False,
        "label": label,
        "mean": mean,
        "median": mean + 0.001,
        "p68": [mean - std, mean + std],
        "p68_range": [mean - std, mean + std],
        "p95": [mean - 2 * std, mean + 2 * std],
        "p95_range": [mean - 2 * std, mean + 2 * std],
        "std": std,
    }
    for label, best, index, mean, std in (
        ("intercept", -1.241, 1, -1.2407, 0.2198),
        ("slope", 2.551, 2, 2.5515, 0.0396),
    )
}


def _problems(
    inputs: dict[str, Any], paths: tuple[str, ...] = ("model.py", "line.dat"), **kw: Any
) -> list[InputProblem]:
    return check_request(Bumps(), inputs, list(paths), kw.get("analyses"))[2]


def _points(n: int, header: bool = True) -> bytes:
    head = f"# logp point (Nthin x Npop x Nvar = [{n // 20},20,2])\n" if header else ""
    rows = "".join(f"{-11.0 - i / n:.6e} {-1.24 + i / n:.6e} {2.55 + i / (10 * n):.6e}\n" for i in range(n))
    return gzip.compress((head + rows).encode())


def _folder(
    tmp_path: Path,
    changes: dict[str, Any] | None = None,
    fit: str = "lm",
    options: dict[str, Any] | None = None,
) -> RunDir:
    """A work folder as an lm run leaves it; ``changes`` maps a relative path to new text (None: delete)."""
    texts: dict[str, Any] = {
        "model.py": "problem = None\n",
        "out/model.par": PAR,
        "out/model-fit.json": json.dumps(FIT_JSON),
        "out/model.out": OUT,
        "out/model-1.dat": CURVE,
        ".calchub/stdout": STDOUT,
        ".calchub/stderr": "",
    }
    inputs = {"fit": fit, "seed": 1, "options": options or {}, "keep_chains": False}
    for name, text in (texts | (changes or {})).items():
        if text is None:
            continue
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text if isinstance(text, bytes) else text.encode())
    return RunDir(tmp_path, inputs)


def _dream_folder(tmp_path: Path, points: int = 12_000) -> RunDir:
    fit = {**FIT_JSON, "method": "dream", "nit": 601}
    changes = {
        "out/model-fit.json": json.dumps(fit),
        "out/model-err.json": json.dumps(ERR_JSON),
        "out/model-point.mc.gz": _points(points),
        "out/model-chain.mc.gz": gzip.compress(b"# draws acceptance_rate 20*logp\n1 2 3\n"),
        "out/model.err": "Statistics and plots based on 8220 samples\n",
    }
    return _folder(tmp_path, changes, "dream")


# -- the declaration -------------------------------------------------------------


def test_the_type_registers_and_ships_as_a_builtin() -> None:
    register_check(Bumps())
    registry = discover(builtins=True, plugins=False)
    assert "bumps" in registry.types
    assert not any("bumps" in source for source in registry.refused)


def test_uploads_take_model_py_first_and_any_data_file() -> None:
    calctype = Bumps()
    assert [u.path for u in calctype.uploads] == ["model.py", "*", "data/**"]
    upload = calctype.upload_for("model.py")
    assert upload is not None and upload.required
    other = calctype.upload_for("data/line.dat")
    assert other is not None and not other.required
    # No upload can plant files where bumps writes its results.
    assert calctype.upload_for("out/model-fit.json") is None


def test_defaults_fill_in_and_choose_the_fit_plot() -> None:
    filled, analyses, problems = check_request(Bumps(), {}, ["model.py"], None)
    assert problems == []
    assert filled == {"fit": "lm", "seed": 1, "options": {}, "keep_chains": False}
    assert analyses == ["fit_plot"]


def test_dream_also_draws_the_distributions_by_default() -> None:
    _, analyses, problems = check_request(Bumps(), {"fit": "dream"}, ["model.py"], None)
    assert problems == []
    assert analyses == ["fit_plot", "distributions"]


@pytest.mark.parametrize(
    ("inputs", "field", "rule"),
    [
        ({"fit": "bogus"}, "inputs.fit", "enum"),
        ({"seed": -1}, "inputs.seed", "minimum"),
        ({"seed": 1.5}, "inputs.seed", "type"),
        ({"steps": 10}, "inputs.steps", "additionalProperties"),
        ({"keep_chains": "yes"}, "inputs.keep_chains", "type"),
        ({"options": {"xtol": 2}}, "inputs.options.xtol", "maximum"),
        ({"options": {"ftol": -1e-8}}, "inputs.options.ftol", "minimum"),
        ({"options": {"steps": 0}}, "inputs.options.steps", "minimum"),
        ({"options": {"steps": 1_000_000}}, "inputs.options.steps", "maximum"),
        ({"options": {"steps": "abc"}}, "inputs.options.steps", "type"),
        ({"options": {"starts": 0}}, "inputs.options.starts", "minimum"),
        ({"options": {"jump": 0.6}}, "inputs.options.jump", "maximum"),
        ({"options": {"time": -1}}, "inputs.options.time", "minimum"),
        ({"fit": "amoeba", "options": {"radius": 0.6}}, "inputs.options.radius", "maximum"),
        ({"fit": "de", "options": {"CR": 1.5}}, "inputs.options.CR", "maximum"),
        ({"fit": "de", "options": {"F": 0}}, "inputs.options.F", "exclusiveMinimum"),
        ({"fit": "dream", "options": {"samples": 0}}, "inputs.options.samples", "minimum"),
        ({"fit": "dream", "options": {"samples": 20_000_000}}, "inputs.options.samples", "maximum"),
        ({"fit": "dream", "options": {"burn": -1}}, "inputs.options.burn", "minimum"),
        ({"fit": "dream", "options": {"thin": 0}}, "inputs.options.thin", "minimum"),
        ({"fit": "dream", "options": {"alpha": 0.2}}, "inputs.options.alpha", "maximum"),
        ({"fit": "dream", "options": {"init": "bogus"}}, "inputs.options.init", "enum"),
        ({"fit": "dream", "options": {"outliers": "all"}}, "inputs.options.outliers", "enum"),
        ({"fit": "dream", "options": {"trim": "yes"}}, "inputs.options.trim", "type"),
        ({"fit": "dream", "options": {"pop": 0}}, "inputs.options.pop", "not"),
    ],
)
def test_bad_inputs_are_refused_naming_the_field(inputs: dict[str, Any], field: str, rule: str) -> None:
    problems = _problems(inputs)
    assert [(p.field, p.rule) for p in problems] == [(field, rule)], problems


@pytest.mark.parametrize(
    ("fit", "option"),
    [
        ("lm", "burn"),
        ("lm", "radius"),
        ("amoeba", "samples"),
        ("newton", "pop"),
        ("de", "starts"),
        ("dream", "xtol"),
    ],
)
def test_an_option_the_fitter_does_not_take_is_refused(fit: str, option: str) -> None:
    problems = _problems({"fit": fit, "options": {option: 5}})
    assert [(p.field, p.rule) for p in problems] == [(f"inputs.options.{option}", "additionalProperties")]
    assert repr(option) in problems[0].message


def test_every_fitter_takes_its_whole_option_table() -> None:
    table = {
        "amoeba": {
            "steps": 200,
            "xtol": 1e-6,
            "ftol": 1e-8,
            "starts": 2,
            "jump": 0.01,
            "radius": 0.15,
            "time": 0.5,
        },
        "lm": {"steps": 200, "xtol": 1e-10, "ftol": 1e-10, "starts": 1, "jump": 0, "time": 0},
        "newton": {"steps": 3000, "xtol": 1e-12, "ftol": 1e-6, "starts": 1, "jump": 0, "time": 0},
        "de": {"steps": 1000, "xtol": 1e-6, "ftol": 1e-8, "pop": 10, "CR": 0.9, "F": 2.0, "time": 0},
        "dream": {
            "samples": 10000,
            "burn": 100,
            "steps": 0,
            "thin": 1,
            "pop": -40,
            "alpha": 0.0,
            "init": "lhs",
            "outliers": "none",
            "trim": False,
            "time": 0,
        },
    }
    for fit, options in table.items():
        assert _problems({"fit": fit, "options": options}) == [], fit


def test_a_missing_model_file_is_refused() -> None:
    problems = _problems({}, paths=("line.dat",))
    assert [(p.field, p.rule) for p in problems] == [("files.model.py", "required")]


def test_distributions_need_the_dream_fitter() -> None:
    problems = _problems({"fit": "lm"}, analyses=["fit_plot", "distributions"])
    assert [(p.field, p.rule) for p in problems] == [("analyses", "needs")]
    assert "only the dream fitter" in problems[0].message
    assert _problems({"fit": "dream"}, analyses=["distributions"]) == []


def test_an_unknown_analysis_is_refused() -> None:
    problems = _problems({}, analyses=["corner_plot"])
    assert [p.field for p in problems] == ["analyses"]


# -- the command -------------------------------------------------------------------


def test_the_command_runs_bumps_in_batch_with_one_argument_per_option() -> None:
    filled, _, _ = check_request(
        Bumps(), {"fit": "dream", "seed": 7, "options": {"samples": 2000, "trim": False}}, [], None
    )
    prepared = Bumps().prepare(filled)
    assert prepared.command == [
        "bumps",
        "model.py",
        "--batch",
        "--parallel=1",
        "--seed=7",
        "--fit=dream",
        "--samples=2000",
        "--no-trim",
        "--export=out",
    ]
    assert prepared.env == {"MPLCONFIGDIR": ".mplconfig"}
    assert prepared.resources == {"cores": 1, "walltime": 3600}
    assert prepared.files == {}


def test_whole_floats_given_for_integer_options_are_passed_as_integers() -> None:
    filled, _, problems = check_request(
        Bumps(), {"fit": "amoeba", "options": {"steps": 100.0}}, ["model.py"], None
    )
    assert problems == []
    assert "--steps=100" in Bumps().prepare(filled).command
    assert option_flags({"samples": 2000.0, "alpha": 0.0}) == ["--samples=2000", "--alpha=0.0"]


def test_option_flags_follow_the_option_table_order() -> None:
    flags = option_flags({"xtol": 1e-10, "steps": 50, "trim": True, "time": 0.5})
    assert flags == ["--steps=50", "--xtol=1e-10", "--trim", "--time=0.5"]
    assert all(flag.split("=")[0].removeprefix("--no-").removeprefix("--") in OPTIONS for flag in flags)


def test_the_chains_are_kept_only_when_asked() -> None:
    calctype = Bumps()
    plain = calctype.prepare(check_request(calctype, {"fit": "dream"}, [], None)[0]).keep
    kept = calctype.prepare(check_request(calctype, {"fit": "dream", "keep_chains": True}, [], None)[0]).keep
    assert "model.py" in plain and "out/*.par" in plain
    assert not any(p.endswith(".mc.gz") for p in plain)
    assert "out/*.mc.gz" in kept
    assert "out/*.mc.gz" in calctype.cleanup


# -- readers -----------------------------------------------------------------------


def test_par_lines_split_at_the_last_space() -> None:
    assert files.read_par(PAR) == [("intercept", -1.24008142857128), ("slope", 2.55065512180433)]
    assert files.read_par("M1 slope 2.5\n\n") == [("M1 slope", 2.5)]


@pytest.mark.parametrize("text", ["", "slope\n", "slope two\n", " 2.5\n"])
def test_a_broken_par_file_is_an_error(text: str) -> None:
    with pytest.raises(ValueError):
        files.read_par(text)


def test_fit_json_gives_values_errors_and_goodness() -> None:
    fit = files.read_fit_json(json.dumps(FIT_JSON))
    assert fit.labels == ["intercept", "slope"]
    assert fit.values == FIT_JSON["x"]
    assert fit.errors == FIT_JSON["dx"]
    assert (fit.chisq, fit.dof, fit.numpoints, fit.nllf) == (1.2269222931650174, 18, 20, 11.042300638485157)


def test_fit_json_accepts_points_for_numpoints_and_nan_values() -> None:
    data = {key: value for key, value in FIT_JSON.items() if key != "numpoints"}
    fit = files.read_fit_json(json.dumps(data | {"points": 21, "dx": [float("nan"), None]}))
    assert fit.numpoints == 21
    assert fit.errors is not None and math.isnan(fit.errors[0] or 0.0) and fit.errors[1] is None


@pytest.mark.parametrize(
    "text", ["[1, 2]", '{"labels": ["a"], "x": []}', '{"labels": ["a"], "x": [1], "dx": [1, 2]}', "{"]
)
def test_a_broken_fit_json_is_an_error(text: str) -> None:
    with pytest.raises(ValueError):
        files.read_fit_json(text)


def test_out_gives_each_range_and_the_overall_chisq() -> None:
    bounds, chisq, nllf = files.read_out(OUT)
    assert bounds == [files.Bound("intercept", -1.24008, -10, 10), files.Bound("slope", 2.55066, -10, 10)]
    assert (chisq, nllf) == (1.23, 11.0423)
    assert all(b.at_bound() is None for b in bounds)


def test_out_reads_renamed_parameters_infinite_ranges_and_bounds() -> None:
    text = "-- Model 0 \n.a = M1 scale = 2 in [0,2]\n.b = 5 in [-inf,inf]\n.c = 3\n"
    text += "[overall chisq=nan(13), nllf=inf]\n"
    bounds, chisq, nllf = files.read_out(text)
    assert [(b.name, b.at_bound()) for b in bounds] == [("M1 scale", 2.0), ("b", None)]
    assert chisq is not None and math.isnan(chisq) and nllf == math.inf


def test_the_final_step_and_logged_errors() -> None:
    assert files.final_step(STDOUT) == 2
    assert files.final_step("step 1 cost 3(1)\n") is None
    assert files.logged_errors(DE_STDERR) == [
        "Error writing model-fit.json: 'dict' object has no attribute 'total_generations'"
    ]
    assert files.logged_errors("UserWarning: Unused fit options\n") == []


def test_the_curve_file() -> None:
    columns, rows = files.read_curve(CURVE)
    assert columns == ["x", "y", "dy", "fy"]
    assert len(rows) == 4 and rows[1] == pytest.approx([0.5, 0.25, 0.5, 0.035])
    with pytest.raises(ValueError):
        files.read_curve("1 2 3\n")
    with pytest.raises(ValueError):
        files.read_curve("# x y\n1 2 3\n")


def test_err_json_gives_the_posterior_statistics() -> None:
    stats = files.read_err_json(json.dumps(ERR_JSON))
    assert stats["slope"]["std"] == 0.0396
    assert stats["slope"]["p95_low"] == pytest.approx(2.5515 - 0.0792)
    assert set(stats["intercept"]) == {"mean", "median", "std", "p68_low", "p68_high", "p95_low", "p95_high"}


@pytest.mark.parametrize("header", [True, False])
def test_points_are_thinned_evenly_to_the_limit(tmp_path: Path, header: bool) -> None:
    path = tmp_path / "model-point.mc.gz"
    path.write_bytes(_points(12_000, header))
    rows = files.read_points(path, 5000)
    assert len(rows) == 4000  # every third of 12000
    assert rows[0] == pytest.approx([-11.0, -1.24, 2.55])
    assert rows[1][1] == pytest.approx(-1.24 + 3 / 12_000)
    assert len(files.read_points(path, 20_000)) == 12_000


def test_result_names_are_valid_unique_and_clear_of_the_fixed_ones() -> None:
    labels = ["slope", "M1 slope", "1st", "chisq", "slope", "θ", "x" * 150, ""]
    names = files.result_names(labels, {"chisq"})
    assert names[:5] == ["slope", "M1_slope", "_1st", "chisq_2", "slope_2"]
    assert len(set(names)) == len(names)
    assert all(re.match(RESULT_NAME, n) for n in names), names


# -- validation --------------------------------------------------------------------


def _validate(run: RunDir) -> list[str]:
    return Bumps().validate(run)


def test_a_good_lm_run_is_valid(tmp_path: Path) -> None:
    assert _validate(_folder(tmp_path)) == []


def test_no_par_file_means_the_fit_did_not_finish(tmp_path: Path) -> None:
    stderr = "Traceback ...\nValueError: Problem has no fittable parameters\n"
    problems = _validate(_folder(tmp_path, {"out/model.par": None, ".calchub/stderr": stderr}))
    assert len(problems) == 1
    assert "out/model.par" in problems[0] and "no fittable parameters" in problems[0]


def test_an_unreadable_par_file_is_invalid(tmp_path: Path) -> None:
    problems = _validate(_folder(tmp_path, {"out/model.par": "slope two\n"}))
    assert len(problems) == 1 and "cannot be read" in problems[0]


def test_no_fit_json_is_invalid_except_for_de(tmp_path: Path) -> None:
    missing = {"out/model-fit.json": None, ".calchub/stderr": DE_STDERR}
    lm = _validate(_folder(tmp_path / "lm", missing))
    assert len(lm) == 1 and "out/model-fit.json" in lm[0]
    assert _validate(_folder(tmp_path / "de", missing, "de")) == []


def test_a_logged_error_makes_the_export_suspect(tmp_path: Path) -> None:
    stderr = "2026-01-01 00:00:00,000 - ERROR - Error writing model.json: boom\n"
    problems = _validate(_folder(tmp_path, {".calchub/stderr": stderr}))
    assert len(problems) == 1 and "Error writing model.json: boom" in problems[0]


def test_de_still_reports_other_logged_errors(tmp_path: Path) -> None:
    stderr = DE_STDERR + "x - ERROR - Error writing model.json: boom\n"
    problems = _validate(_folder(tmp_path, {"out/model-fit.json": None, ".calchub/stderr": stderr}, "de"))
    assert len(problems) == 1 and "model.json: boom" in problems[0]


def test_a_chisq_that_is_not_finite_is_invalid(tmp_path: Path) -> None:
    text = json.dumps({**FIT_JSON, "chisq": float("nan")})
    problems = _validate(_folder(tmp_path, {"out/model-fit.json": text}))
    assert len(problems) == 1 and problems[0].startswith("chisq is nan")


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), None])
def test_an_uncertainty_that_is_not_finite_and_positive_names_the_parameter(tmp_path: Path, bad: Any) -> None:
    text = json.dumps({**FIT_JSON, "dx": [0.2, bad]})
    problems = _validate(_folder(tmp_path, {"out/model-fit.json": text}))
    assert len(problems) == 1 and "parameter 'slope'" in problems[0]


def test_a_parameter_on_a_bound_is_invalid(tmp_path: Path) -> None:
    out = OUT.replace(".slope = 2.55066 in [-10,10]", ".slope = 2 in [0,2]")
    problems = _validate(_folder(tmp_path, {"out/model.out": out}))
    assert len(problems) == 1
    assert "'slope'" in problems[0] and "upper bound 2" in problems[0] and "widen the range" in problems[0]


@pytest.mark.parametrize(
    ("fit", "options", "last", "limited"),
    [
        ("amoeba", {"steps": 200}, 199, True),
        ("amoeba", {"steps": 200}, 46, False),
        ("amoeba", {}, 999, True),
        ("newton", {"steps": 5}, 5, True),
        ("newton", {"steps": 100}, 9, False),
        ("de", {"steps": 30}, 30, True),
        ("lm", {"steps": 2}, 2, False),
    ],
)
def test_a_fit_that_used_all_its_steps_is_invalid(
    tmp_path: Path, fit: str, options: dict[str, Any], last: int, limited: bool
) -> None:
    stdout = f"step 1 cost 9(1)\nstep {last} cost 1.23(13) [final]\ntime 1 ms\n"
    changes: dict[str, Any] = {".calchub/stdout": stdout}
    if fit == "de":
        changes |= {"out/model-fit.json": None, ".calchub/stderr": DE_STDERR}
    problems = _validate(_folder(tmp_path, changes, fit, options))
    if limited:
        assert len(problems) == 1 and "step limit" in problems[0] and "raise options.steps" in problems[0]
        assert f"step {last} of {options.get('steps', 1000)}" in problems[0]
    else:
        assert problems == []


def test_dream_that_did_not_converge_is_invalid(tmp_path: Path) -> None:
    run = _dream_folder(tmp_path)
    assert _validate(run) == []
    (tmp_path / ".calchub/stderr").write_text("convergence.py:186: UserWarning: Did not converge!\n")
    problems = _validate(run)
    assert len(problems) == 1 and "did not converge" in problems[0] and "options.samples" in problems[0]


def test_dream_without_its_draws_is_invalid(tmp_path: Path) -> None:
    run = _dream_folder(tmp_path)
    (tmp_path / "out/model-point.mc.gz").unlink()
    problems = _validate(run)
    assert len(problems) == 1 and "out/model-point.mc.gz" in problems[0]


# -- results and analyses -------------------------------------------------------------


def test_an_lm_run_gives_parameters_goodness_curve_and_plot(tmp_path: Path) -> None:
    run = _folder(tmp_path)
    done = postprocess(Bumps(), run, ["fit_plot"], Bumps().prepare(run.inputs).keep)
    assert done.verdict == "completed", done.message
    scalars = {s.name: s for s in done.results.scalars}
    assert scalars["slope"].value == FIT_JSON["x"][1] and scalars["slope"].error == FIT_JSON["dx"][1]
    assert scalars["intercept"].value == FIT_JSON["x"][0]
    assert (scalars["chisq"].value, scalars["chisq"].unit) == (FIT_JSON["chisq"], "")
    assert (scalars["dof"].value, scalars["numpoints"].value, scalars["nllf"].value) == (
        18,
        20,
        FIT_JSON["fun"],
    )
    tables = {t.name: t for t in done.results.tables}
    assert tables["parameters"].columns == ["name", "value", "uncertainty"]
    assert tables["parameters"].rows[1] == ["slope", FIT_JSON["x"][1], FIT_JSON["dx"][1]]
    assert tables["fit_curve"].columns == ["x", "y", "dy", "fy"] and len(tables["fit_curve"].rows) == 4
    assert "posterior" not in tables
    assert [f.name for f in done.results.figures] == ["fit"]
    svg = (tmp_path / "figures/fit.svg").read_text()
    assert svg.count("<circle") == 4 and "<polyline" in svg and "chisq/dof = 1.227" in svg


def test_labels_become_valid_result_names(tmp_path: Path) -> None:
    fit = {**FIT_JSON, "labels": ["M1 intercept", "chisq"]}
    run = _folder(tmp_path, {"out/model-fit.json": json.dumps(fit)})
    done = postprocess(Bumps(), run, [], [])
    names = {s.name for s in done.results.scalars}
    assert {"M1_intercept", "chisq", "chisq_2"} <= names
    assert {s.name: s.value for s in done.results.scalars}["chisq"] == FIT_JSON["chisq"]


def test_de_results_come_from_par_and_out(tmp_path: Path) -> None:
    run = _folder(tmp_path, {"out/model-fit.json": None, ".calchub/stderr": DE_STDERR}, "de")
    done = postprocess(Bumps(), run, ["fit_plot"], [])
    assert done.verdict == "completed", done.message
    scalars = {s.name: s for s in done.results.scalars}
    assert scalars["slope"].value == 2.55065512180433 and scalars["slope"].error is None
    assert (scalars["chisq"].value, scalars["nllf"].value) == (1.23, 11.0423)
    assert "dof" not in scalars
    table = next(t for t in done.results.tables if t.name == "parameters")
    assert table.rows[0] == ["intercept", -1.24008142857128, None]


def test_dream_gives_statistics_draws_figures_and_drops_the_chains(tmp_path: Path) -> None:
    run = _dream_folder(tmp_path)
    calctype = Bumps()
    analyses = calctype.default_analyses(run.inputs)
    done = postprocess(calctype, run, analyses, calctype.prepare(run.inputs).keep)
    assert done.verdict == "completed", done.message
    tables = {t.name: t for t in done.results.tables}
    parameters = tables["parameters"]
    assert parameters.columns[3:] == ["mean", "median", "std", "p68_low", "p68_high", "p95_low", "p95_high"]
    assert parameters.rows[1][5] == 0.0396
    posterior = tables["posterior"]
    assert posterior.columns == ["logp", "intercept", "slope"]
    assert len(posterior.rows) == 4000
    assert {f.name for f in done.results.figures} == {"fit", "distributions"}
    svg = (tmp_path / "figures/distributions.svg").read_text()
    assert "intercept" in svg and "slope" in svg and svg.count("<rect") > 30
    assert done.results.files_removed == 2 and done.results.bytes_freed > 0
    assert not list((tmp_path / "out").glob("*.mc.gz"))
    assert (tmp_path / "out/model.par").exists() and (tmp_path / "out/model.err").exists()


def test_dream_keeps_the_chains_when_asked(tmp_path: Path) -> None:
    run = _dream_folder(tmp_path)
    run.inputs["keep_chains"] = True
    done = postprocess(Bumps(), run, [], Bumps().prepare(run.inputs).keep)
    assert done.verdict == "completed" and done.results.files_removed == 0
    assert len(list((tmp_path / "out").glob("*.mc.gz"))) == 2


def test_the_fit_plot_draws_nothing_without_a_curve_file(tmp_path: Path) -> None:
    run = _folder(tmp_path, {"out/model-1.dat": None})
    done = postprocess(Bumps(), run, ["fit_plot"], [])
    assert done.verdict == "completed" and done.results.figures == []
