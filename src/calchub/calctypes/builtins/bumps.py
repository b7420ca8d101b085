"""``bumps``: fit a model to data with bumps 1.x in batch mode.

The user uploads ``model.py`` (a bumps model file that defines ``problem``) and
the data files it reads. The type runs ``bumps model.py --batch --parallel=1
--seed=S --fit=F <options> --export=out`` with the options of the chosen fitter
only: each fitter's option table (docs/discussions/calculation-types-facts.md,
section 1) is part of the schema, so an option the fitter would ignore, or a
value out of range, is refused at submit.

bumps calls every fit a success, so ``validate`` judges it: a run is invalid when
the export is missing or partial, chisq is not finite, a parameter has no finite
positive uncertainty or ends on a bound of its range, amoeba, newton or de used
all their steps, or dream warned that it did not converge.

Results: one scalar per parameter (value, with the 1-sigma uncertainty from the
curvature as its error), a ``parameters`` table (with dream's posterior mean,
median, std and 68%/95% intervals), ``chisq`` (reduced), ``dof``, ``numpoints``,
``nllf``, ``fit_curve`` (data and fitted curve of the first model, from
``out/model-1.dat``) and, for dream, ``posterior``: up to 5000 evenly thinned
draws. The de fitter of bumps 1.0.5 writes no ``-fit.json``; its values come from
``out/model.par`` and its chisq and nllf from ``out/model.out``, without
uncertainties. The Markov chains (``out/*.mc.gz``) are deleted once the results
are extracted unless ``keep_chains`` is set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from calchub.calctypes.api import Analysis, AnalysisContext, CalcType, Prepared, RunDir, Upload
from calchub.calctypes.builtins.bumps_files import (
    Fit,
    final_step,
    fit_from_par,
    logged_errors,
    read_curve,
    read_err_json,
    read_fit_json,
    read_out,
    read_par,
    read_points,
    result_names,
)
from calchub.calctypes.figures import Series, histograms, line_chart
from calchub.calctypes.results import Results

PAR, FIT_JSON, OUT, CURVE = "out/model.par", "out/model-fit.json", "out/model.out", "out/model-1.dat"
ERR_JSON, POINTS, CHAINS = "out/model-err.json", "out/model-point.mc.gz", "out/*.mc.gz"
PROVIDES = ("parameters", "chisq", "fit_curve", "posterior")
RESERVED = {*PROVIDES, "dof", "numpoints", "nllf", "fit", "distributions"}
MAX_DRAWS, MAX_DRAW_CELLS = 5000, 200_000
#: The bumps default of ``steps``, and how far below it the last step of a fit that used them all is.
STEP_LIMITS = {"amoeba": (1000, 1), "newton": (3000, 0), "de": (1000, 0)}
STATS = ("mean", "median", "std", "p68_low", "p68_high", "p95_low", "p95_high")


def _range(kind: str, low: float, high: float | None, text: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": kind, "minimum": low, "description": text}
    return spec if high is None else spec | {"maximum": high}


OPTIONS: dict[str, dict[str, Any]] = {
    "steps": _range("integer", 1, 100_000, "most iterations before the fitter stops"),
    "xtol": _range("number", 0, 1, "stop when the parameters change less than this"),
    "ftol": _range("number", 0, None, "stop when the cost changes less than this"),
    "starts": _range("integer", 1, 1000, "independent restarts"),
    "jump": _range("number", 0, 0.5, "random jump between restarts (fraction of the range)"),
    "radius": _range("number", 0, 0.5, "initial simplex size (fraction of the range)"),
    "pop": _range("number", -100_000, 1000, "population: times the parameter count, or minus a count"),
    "CR": _range("number", 0, 1, "crossover ratio"),
    "F": {"type": "number", "exclusiveMinimum": 0, "maximum": 100, "description": "difference scale"},
    "samples": _range("integer", 1, 10_000_000, "posterior draws"),
    "burn": _range("integer", 0, 100_000, "burn-in generations"),
    "thin": _range("integer", 1, 1000, "generations between saved draws"),
    "alpha": _range("number", 0, 0.1, "stop when the chains stop changing at this significance (0: never)"),
    "init": {"enum": ["eps", "lhs", "cov", "random"], "description": "population initializer"},
    "outliers": {"enum": ["none", "iqr", "grubbs", "mahal"], "description": "outlier chain test"},
    "trim": {"type": "boolean", "description": "trim the burn-in from the draws"},
    "time": _range("number", 0, 1000, "most hours to fit (0: no limit)"),
}
FITTERS: dict[str, tuple[str, ...]] = {
    "amoeba": ("steps", "xtol", "ftol", "starts", "jump", "radius", "time"),
    "lm": ("steps", "xtol", "ftol", "starts", "jump", "time"),
    "newton": ("steps", "xtol", "ftol", "starts", "jump", "time"),
    "de": ("steps", "xtol", "ftol", "pop", "CR", "F", "time"),
    "dream": ("samples", "burn", "steps", "thin", "pop", "alpha", "init", "outliers", "trim", "time"),
}
DREAM_STEPS = _range("integer", 0, 100_000, "generations after burn-in (0: from samples)")


def _fitter_rule(fit: str, names: tuple[str, ...]) -> dict[str, Any]:
    specs = {name: DREAM_STEPS if (fit, name) == ("dream", "steps") else OPTIONS[name] for name in names}
    return {
        "if": {"properties": {"fit": {"const": fit}}, "required": ["fit"]},
        "then": {"properties": {"options": {"properties": specs, "additionalProperties": False}}},
    }


SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "fit": {"enum": list(FITTERS), "default": "lm", "description": "the fitter"},
        "seed": {
            "type": "integer",
            "minimum": 0,
            "maximum": 2**32 - 1,
            "default": 1,
            "description": "random seed: the same seed gives the same fit",
        },
        "options": {
            "type": "object",
            "default": {},
            "description": "fitter options; each fitter takes its own: "
            + "; ".join(f"{fit}: {', '.join(names)}" for fit, names in FITTERS.items()),
        },
        "keep_chains": {"type": "boolean", "default": False, "description": "keep dream's out/*.mc.gz"},
    },
    "allOf": [_fitter_rule(fit, names) for fit, names in FITTERS.items()],
}


def option_flags(options: dict[str, Any]) -> list[str]:
    """One bumps argument per option, in the order of ``OPTIONS``; 100.0 is the integer 100."""
    flags = []
    for name in OPTIONS:
        if name not in options:
            continue
        value = options[name]
        if isinstance(value, bool):
            flags.append(f"--{name}" if value else f"--no-{name}")
        elif OPTIONS[name].get("type") == "integer" and isinstance(value, float):
            flags.append(f"--{name}={int(value)}")
        else:
            flags.append(f"--{name}={value}")
    return flags


def read_fit(run: RunDir) -> Fit:
    """The best fit from the export; ValueError says what is missing or unreadable."""
    if not run.exists(PAR):
        raise ValueError(f"bumps wrote no {PAR}, so the fit did not finish{_last_words(run)}; see stderr")
    try:
        pairs = read_par(run.text(PAR))
    except ValueError as error:
        raise ValueError(f"{PAR} cannot be read ({error}); the export is damaged") from None
    if run.exists(FIT_JSON):
        try:
            return read_fit_json(run.text(FIT_JSON))
        except (ValueError, TypeError) as error:
            raise ValueError(f"{FIT_JSON} cannot be read ({error}); the export is damaged") from None
    if run.inputs.get("fit") == "de":
        return fit_from_par(pairs, run.text(OUT))
    raise ValueError(f"bumps wrote no {FIT_JSON}, so the export is incomplete{_last_words(run)}; see stderr")


def _last_words(run: RunDir) -> str:
    lines = [line.strip() for line in run.stderr().splitlines() if line.strip()]
    return f" (stderr ends: {lines[-1][:200]!r})" if lines else ""


def _stderr_problems(run: RunDir) -> list[str]:
    fit, stderr = run.inputs.get("fit"), run.stderr()
    known = "Error writing model-fit.json" if fit == "de" else None
    problems = [
        f"bumps logged an error: {message!r}; some exported files may be missing or incomplete"
        for message in logged_errors(stderr)
        if known is None or not message.startswith(known)
    ]
    if fit == "dream" and "Did not converge!" in stderr:
        problems.append("dream did not converge (bumps warned 'Did not converge!'): raise options.samples")
    return problems


def _fit_problems(fit: Fit) -> list[str]:
    problems = []
    if fit.chisq is None or not math.isfinite(fit.chisq):
        problems.append(
            f"chisq is {fit.chisq}, not a finite number: the model gives NaN or infinite values "
            "at the best point; check model.py and the data"
        )
    for label, error in zip(fit.labels, fit.errors or [], strict=False):
        if error is None or not math.isfinite(error) or error <= 0:
            problems.append(
                f"parameter {label!r} has uncertainty {error}: the data do not determine it "
                "(it hardly changes the model, or depends on another); fix it or narrow its range in model.py"
            )
    return problems


def _bound_problems(run: RunDir) -> list[str]:
    bounds, _, _ = read_out(run.text(OUT))
    problems = []
    for item in bounds:
        bound = item.at_bound()
        if bound is not None:
            side = "lower" if bound == item.low else "upper"
            problems.append(
                f"parameter {item.name!r} ended on the {side} bound {bound:g} of its range "
                f"[{item.low:g}, {item.high:g}]: the best fit may lie outside it; widen the range in model.py"
            )
    return problems


def _step_problems(run: RunDir) -> list[str]:
    fit = run.inputs.get("fit", "")
    if fit not in STEP_LIMITS:
        return []
    default, below = STEP_LIMITS[fit]
    steps = run.inputs.get("options", {}).get("steps", default)
    last = final_step(run.stdout())
    if last is None or last < steps - below:
        return []
    limit = f"step {last} of {steps}"
    return [f"the {fit} fit stopped at its step limit ({limit}) before converging: raise options.steps"]


def _parameter_table(run: RunDir, fit: Fit, results: Results) -> None:
    errors = fit.errors or [None] * len(fit.labels)
    columns = ["name", "value", "uncertainty"]
    rows: list[list[Any]] = [list(row) for row in zip(fit.labels, fit.values, errors, strict=True)]
    if run.exists(ERR_JSON):
        stats = read_err_json(run.text(ERR_JSON))
        columns += STATS
        for row in rows:
            row += [stats.get(row[0], {}).get(key) for key in STATS]
    results.table("parameters", columns, rows)


def _posterior(run: RunDir, fit: Fit, results: Results) -> None:
    columns = ["logp", *fit.labels]
    rows = read_points(run.file(POINTS), min(MAX_DRAWS, MAX_DRAW_CELLS // len(columns)))
    bad = next((row for row in rows if len(row) != len(columns)), None)
    if bad is not None:
        raise ValueError(f"{POINTS} has {len(bad)} columns, not logp and the {len(fit.labels)} parameters")
    results.table("posterior", columns, rows)


def _floats(results: Results, table: str, column: str) -> list[float]:
    return [float(v) if isinstance(v, int | float) else math.nan for v in results.column(table, column)]


def _fit_plot(ctx: AnalysisContext) -> None:
    """Data with error bars and the fitted curve; nothing when there is no x, y, fy curve."""
    table = ctx.results.tables.get("fit_curve")
    if table is None or not {"x", "y", "fy"} <= set(table.columns):
        return
    x, y, fy = (_floats(ctx.results, "fit_curve", c) for c in ("x", "y", "fy"))
    dy = _floats(ctx.results, "fit_curve", "dy") if "dy" in table.columns else None
    order = sorted(range(len(x)), key=lambda i: x[i])
    line = Series("fit", [x[i] for i in order], [fy[i] for i in order], style="line")
    chisq = ctx.results.scalars.get("chisq")
    value = chisq.value if chisq is not None else None
    title = f"{ctx.inputs.get('fit', '')} fit" + (
        f", chisq/dof = {value:.4g}" if isinstance(value, float) else ""
    )
    svg = line_chart([Series("data", x, y, errors=dy, style="points"), line], title, "x", "y")
    ctx.figure("fit", svg, "Data and fitted curve")


def _distributions(ctx: AnalysisContext) -> None:
    """One histogram of the posterior draws per parameter."""
    labels = ctx.results.tables["posterior"].columns[1:]
    samples: dict[str, Sequence[float]] = {
        label: _floats(ctx.results, "posterior", label) for label in labels
    }
    svg = histograms(samples, "Posterior distributions (dream)")
    ctx.figure("distributions", svg, "Posterior distribution of each parameter")


class Bumps(CalcType):
    name = "bumps"
    version = "1.0"
    title = "Curve fitting (bumps)"
    description = (
        "Fit a bumps model (model.py and its data files) with amoeba, lm, newton, de or dream; "
        "parameters with uncertainties, chisq, the fitted curve and, for dream, posterior draws."
    )
    schema = SCHEMA
    uploads = (
        Upload("model.py", required=True, description="the bumps model file; it must define `problem`"),
        Upload("*", required=False, description="data files the model reads, beside it"),
        Upload("data/**", required=False, description="or in a data/ folder (out/ is where bumps writes)"),
    )
    command = [
        "bumps",
        "model.py",
        "--batch",
        "--parallel=1",
        "--seed={{ seed }}",
        "--fit={{ fit }}",
        "--export=out",
    ]
    env = {"MPLCONFIGDIR": ".mplconfig"}
    resources = {"cores": 1, "walltime": 3600}
    keep = ["model.py", "out/*.par", "out/*.out", "out/*.json", "out/*.dat", "out/*.err", "out/*.png"]
    cleanup = [CHAINS, ".mplconfig/*"]
    provides = PROVIDES
    analyses = (
        Analysis("fit_plot", _fit_plot, needs=("fit_curve",), description="data and fitted curve (fit.svg)"),
        Analysis(
            "distributions",
            _distributions,
            needs=("posterior",),
            description="histograms of dream's posterior draws (distributions.svg)",
            default=False,
        ),
    )

    def check(self, inputs: dict[str, Any], analyses: list[str]) -> list[tuple[str, str, str]]:
        problems = []
        if "distributions" in analyses and inputs.get("fit") != "dream":
            problems.append(
                (
                    "analyses",
                    "needs",
                    "analysis 'distributions' needs the posterior samples that only the dream fitter "
                    "draws; use fit=dream or drop it",
                )
            )
        if inputs.get("options", {}).get("pop") == 0:
            problems.append(
                ("inputs.options.pop", "not", "pop must not be 0: use n > 0 (n per parameter) or -n")
            )
        return problems

    def default_analyses(self, inputs: dict[str, Any]) -> list[str]:
        return ["fit_plot", "distributions"] if inputs.get("fit") == "dream" else ["fit_plot"]

    def prepare(self, inputs: dict[str, Any]) -> Prepared:
        prepared = super().prepare(inputs)
        prepared.command[-1:-1] = option_flags(inputs.get("options", {}))
        if inputs.get("keep_chains"):
            prepared.keep.append(CHAINS)
        return prepared

    def validate(self, run: RunDir) -> list[str]:
        try:
            fit = read_fit(run)
        except ValueError as error:
            return [str(error)]
        problems = [*_stderr_problems(run), *_fit_problems(fit), *_bound_problems(run), *_step_problems(run)]
        if run.inputs.get("fit") == "dream" and not run.exists(POINTS):
            problems.append(f"dream wrote no {POINTS}, so there are no posterior draws; see stderr")
        return problems

    def extract(self, run: RunDir, results: Results) -> None:
        fit = read_fit(run)
        errors = fit.errors or [None] * len(fit.labels)
        for name, value, error in zip(result_names(fit.labels, RESERVED), fit.values, errors, strict=True):
            results.scalar(name, value, error=error)
        results.scalar("chisq", fit.chisq, unit="")
        for name, number in (("dof", fit.dof), ("numpoints", fit.numpoints), ("nllf", fit.nllf)):
            if number is not None:
                results.scalar(name, number)
        _parameter_table(run, fit, results)
        if run.exists(CURVE):
            results.table("fit_curve", *read_curve(run.text(CURVE)))
        if run.inputs.get("fit") == "dream":
            _posterior(run, fit, results)
