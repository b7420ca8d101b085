"""Readers for what ``bumps --export`` (bumps 1.x) writes, and for its console streams.

Pure functions of text (or one gzip file), so they are tested on captured output.
The formats are described in docs/discussions/calculation-types-facts.md, section 1.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_BOUND = re.compile(
    r"^\s*\.?(?P<where>.*?) = (?:(?P<name>.+) = )?(?P<value>\S+) in \[(?P<lo>[^,\]]+),(?P<hi>[^\]]+)\]"
)
_OVERALL = re.compile(r"\[overall chisq=(?P<chisq>[^(,\s]+)[^,]*, nllf=(?P<nllf>[^\]\s]+)\]")
_FINAL = re.compile(r"^step (?P<step>\d+) cost .*\[final\]\s*$", re.MULTILINE)
_ERROR = re.compile(r"\bERROR - (?P<message>.*)$", re.MULTILINE)
_SHAPE = re.compile(r"=\s*\[(?P<thin>\d+),\s*(?P<pop>\d+),\s*(?P<var>\d+)\]")


@dataclass
class Fit:
    """The best fit: values and 1-sigma errors in label order, and the goodness of fit."""

    labels: list[str]
    values: list[float]
    #: None when the fitter reported no uncertainties.
    errors: list[float | None] | None
    chisq: float | None = None
    dof: int | None = None
    numpoints: int | None = None
    nllf: float | None = None


@dataclass(frozen=True)
class Bound:
    """One fitted parameter's line in ``.out``: its value (as printed, ``%g``) and range."""

    name: str
    value: float
    low: float
    high: float

    def at_bound(self) -> float | None:
        """The bound the value sits on, or None."""
        return next((b for b in (self.low, self.high) if math.isfinite(b) and self.value == b), None)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def read_par(text: str) -> list[tuple[str, float]]:
    """``label value`` lines; a label may hold spaces, so the value is after the last one."""
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        label, _, value = line.strip().rpartition(" ")
        try:
            pairs.append((label, float(value)))
        except ValueError:
            raise ValueError(f"line {number} is not 'label value': {line.strip()!r}") from None
        if not label:
            raise ValueError(f"line {number} has no parameter label: {line.strip()!r}")
    if not pairs:
        raise ValueError("it names no parameters")
    return pairs


def read_fit_json(text: str) -> Fit:
    """``<stem>-fit.json``: x and dx in the order of labels, chisq (reduced), dof, points, fun."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"it holds a {type(data).__name__}, not an object")
    labels, values = data.get("labels"), data.get("x")
    if not isinstance(labels, list) or not isinstance(values, list) or len(labels) != len(values):
        raise ValueError("it has no matching 'labels' and 'x' lists")
    dx = data.get("dx")
    if isinstance(dx, list) and len(dx) != len(labels):
        raise ValueError(f"it has {len(dx)} uncertainties 'dx' for {len(labels)} labels")
    points = data.get("numpoints", data.get("points"))
    dof = data.get("dof")
    return Fit(
        labels=[str(label) for label in labels],
        values=[math.nan if v is None else float(v) for v in values],
        errors=[_float(e) for e in dx] if isinstance(dx, list) else None,
        chisq=_float(data.get("chisq")),
        dof=dof if isinstance(dof, int) else None,
        numpoints=points if isinstance(points, int) else None,
        nllf=_float(data.get("fun")),
    )


def read_out(text: str) -> tuple[list[Bound], float | None, float | None]:
    """``<stem>.out``: each fitted parameter's range, and the overall chisq and nllf."""
    bounds = []
    for line in text.splitlines():
        found = _BOUND.match(line)
        if found is None:
            continue
        try:
            numbers = [float(found[key]) for key in ("value", "lo", "hi")]
        except ValueError:
            continue
        bounds.append(Bound(found["name"] or found["where"], *numbers))
    overall = _OVERALL.search(text)
    if overall is None:
        return bounds, None, None
    return bounds, _number_or_nan(overall["chisq"]), _number_or_nan(overall["nllf"])


def _number_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def fit_from_par(pairs: list[tuple[str, float]], out_text: str) -> Fit:
    """A fit without ``-fit.json`` (the de fitter in bumps 1.0.5): values from .par, chisq from .out."""
    _, chisq, nllf = read_out(out_text)
    return Fit(
        labels=[label for label, _ in pairs],
        values=[value for _, value in pairs],
        errors=None,
        chisq=chisq,
        nllf=nllf,
    )


def final_step(stdout: str) -> int | None:
    """The step number on the monitor's last ``[final]`` line."""
    steps = _FINAL.findall(stdout)
    return int(steps[-1]) if steps else None


def logged_errors(stderr: str) -> list[str]:
    """The messages of ``... - ERROR - message`` log lines."""
    return [found["message"].strip() for found in _ERROR.finditer(stderr)]


def read_curve(text: str) -> tuple[list[str], list[list[float]]]:
    """``<stem>-1.dat``: a ``# x y dy fy`` header and rows of numbers."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("#"):
        raise ValueError("it has no '# x y dy fy' header")
    columns = lines[0].lstrip("#").split()
    rows = [[float(field) for field in line.split()] for line in lines[1:] if not line.startswith("#")]
    bad = next((i for i, row in enumerate(rows) if len(row) != len(columns)), None)
    if bad is not None:
        raise ValueError(f"row {bad + 1} has {len(rows[bad])} numbers for {len(columns)} columns")
    return columns, rows


def read_err_json(text: str) -> dict[str, dict[str, float | None]]:
    """``<stem>-err.json`` (dream): each label's mean, median, std and 68%/95% intervals."""
    data = json.loads(text)
    stats: dict[str, dict[str, float | None]] = {}
    for label, item in data.items():
        row = {key: _float(item.get(key)) for key in ("mean", "median", "std")}
        for interval in ("p68", "p95"):
            low, high = (item.get(interval) or [None, None])[:2]
            row[f"{interval}_low"], row[f"{interval}_high"] = _float(low), _float(high)
        stats[str(label)] = row
    return stats


def read_points(path: Path, limit: int) -> list[list[float]]:
    """Rows ``logp p1 p2 ...`` of a dream ``-point.mc.gz``, evenly thinned to at most ``limit``."""
    total = _point_count(path)
    every = max(1, math.ceil(total / limit))
    rows: list[list[float]] = []
    with gzip.open(path, "rt") as handle:
        index = 0
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            if index % every == 0 and len(rows) < limit:
                rows.append([float(field) for field in line.split()])
            index += 1
    return rows


def _point_count(path: Path) -> int:
    with gzip.open(path, "rt") as handle:
        header = handle.readline()
        shape = _SHAPE.search(header)
        if shape is not None:
            return int(shape["thin"]) * int(shape["pop"])
        return sum(1 for line in handle if line.strip() and not line.startswith("#"))


def result_names(labels: list[str], taken: set[str]) -> list[str]:
    """A valid, unique result name for each label, none of them in ``taken``."""
    names: list[str] = []
    used = set(taken)
    for label in labels:
        base = re.sub(r"[^A-Za-z0-9_.\-]", "_", label.strip())[:90] or "parameter"
        if not re.match(r"[A-Za-z_]", base):
            base = f"_{base}"
        name, counter = base, 1
        while name in used:
            counter += 1
            name = f"{base}_{counter}"
        used.add(name)
        names.append(name)
    return names
