"""Calculations side by side: their scalars and inputs as rows, their shared figures overlaid.

A comparison reads each calculation through ``calculations.describe`` and
``results.of_calculation``, as its caller: one the caller may not see is not
found, exactly as one that does not exist.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from calchub.contracts import calculations as calc_wire
from calchub.contracts import results as wire
from calchub.server.services import calculations, results
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Invalid

#: Calculations in one comparison, at most.
MAX_COMPARED = 20
#: One colour per calculation in an overlaid plot (repeating after ten).
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
#: Within one calculation, its traces differ by dash.
DASHES = ("solid", "dash", "dot", "dashdot", "longdash")


@dataclass
class ScalarRow:
    """One scalar across the calculations; ``cells`` is None where a calculation has none."""

    name: str
    cells: list[wire.Scalar | None]
    #: The unit they share; empty when none or when they differ (each cell then shows its own).
    unit: str
    differs: bool


@dataclass
class InputRow:
    """One input across the calculations (nested inputs as ``a.b``); ``None`` where it is not set."""

    name: str
    values: list[str | None]
    differs: bool


@dataclass
class Overlay:
    """One figure name the calculations share: every calculation's traces in one plot spec."""

    name: str
    title: str
    #: ``None`` when no calculation kept the figure's data (results from before plots were kept).
    plot: dict[str, Any] | None
    #: The calculations with this figure as an image only, with the path of each's SVG.
    images: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Comparison:
    calculations: list[calc_wire.Calculation]
    scalars: list[ScalarRow]
    inputs: list[InputRow]
    plots: list[Overlay]


def parse_ids(values: Iterable[str]) -> list[int]:
    """Calculation ids from ``ids`` query values, each ``3`` or ``3,5,9``; in order, each once.

    Raises Invalid (field ``ids``) for anything that is not an id, or too many ids.
    """
    found: list[int] = []
    for part in ",".join(values).replace(" ", ",").split(","):
        if not part:
            continue
        if not part.isdigit() or len(part) > 18 or int(part) == 0:
            raise Invalid(f"{part[:30]!r} is not a calculation id: give ids like 3,5,9", "ids")
        if int(part) not in found:
            found.append(int(part))
        if len(found) > MAX_COMPARED:
            raise Invalid(
                f"more than {MAX_COMPARED} calculations given; compare at most {MAX_COMPARED} at once", "ids"
            )
    return found


def compare(session: Session, caller: Caller, ids: Sequence[int]) -> Comparison:
    """The calculations ``ids`` side by side, in that order; NotFound for any the caller may not see."""
    if len(ids) > MAX_COMPARED:
        raise Invalid(
            f"more than {MAX_COMPARED} calculations given; compare at most {MAX_COMPARED} at once", "ids"
        )
    calcs = [calculations.describe(session, caller, calc_id) for calc_id in ids]
    found = [results.of_calculation(session, caller, calc_id) for calc_id in ids]
    labels = [label(c) for c in calcs]
    return Comparison(calcs, scalar_rows(found), input_rows(calcs), overlays(found, labels))


def label(calc: calc_wire.Calculation) -> str:
    """How a calculation is named in a legend: its id, then its name."""
    return f"#{calc.id} {calc.name}"


def scalar_rows(found: Sequence[wire.CalculationResults]) -> list[ScalarRow]:
    by_calc = [{s.name: s for s in r.scalars} for r in found]
    rows = []
    for name in _in_order(s.name for r in found for s in r.scalars):
        cells = [each.get(name) for each in by_calc]
        units = {c.unit for c in cells if c is not None}
        shown = {(c.value, c.error) if c is not None else None for c in cells}
        rows.append(ScalarRow(name, cells, units.pop() if len(units) == 1 else "", len(shown) > 1))
    return rows


def input_rows(calcs: Sequence[calc_wire.Calculation]) -> list[InputRow]:
    flat = [dict(_flatten(c.inputs or {})) for c in calcs]
    rows = []
    for name in _in_order(key for each in flat for key in each):
        values = [each.get(name) for each in flat]
        rows.append(InputRow(name, values, len(set(values)) > 1))
    return rows


def _flatten(inputs: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, str]]:
    for key, value in inputs.items():
        if isinstance(value, dict) and value:
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def overlays(found: Sequence[wire.CalculationResults], labels: Sequence[str]) -> list[Overlay]:
    """One overlay per figure name that two or more calculations share (every figure of a lone one)."""
    needed = 2 if len(found) > 1 else 1
    by_calc = [{f.name: f for f in r.figures} for r in found]
    plots = []
    for name in _in_order(f.name for r in found for f in r.figures):
        having = [(i, each[name]) for i, each in enumerate(by_calc) if name in each]
        if len(having) < needed:
            continue
        drawn = [(labels[i], i, f.plot) for i, f in having if f.plot is not None]
        images = [(found[i].id, f.path) for i, f in having if f.plot is None]
        plot = overlay(drawn) if drawn else None
        plots.append(Overlay(name, having[0][1].title or name, plot, images))
    return plots


def overlay(specs: Sequence[tuple[str, int, dict[str, Any]]]) -> dict[str, Any]:
    """One plot spec from several ``(label, index, spec)``: each spec's traces named by its label
    and coloured by its index, on the first spec's layout (the others fill in what it lacks)."""
    layout: dict[str, Any] = copy.deepcopy(specs[0][2].get("layout", {}))
    for _, _, spec in specs[1:]:
        for key, value in spec.get("layout", {}).items():
            layout.setdefault(key, copy.deepcopy(value))
    # A trace goes on the axes where the first spec has a trace of its name (histogram panels).
    axes = {t.get("name"): (t.get("xaxis"), t.get("yaxis")) for t in specs[0][2]["data"]}
    traces = [
        _recoloured(trace, label, index, n, axes)
        for label, index, spec in specs
        for n, trace in enumerate(spec["data"])
    ]
    if any(t.get("type") == "bar" for t in traces):
        layout["barmode"] = "overlay"
    layout["showlegend"] = True
    return {"data": traces, "layout": layout}


def _recoloured(
    trace: dict[str, Any], label: str, index: int, n: int, axes: dict[Any, tuple[Any, Any]]
) -> dict[str, Any]:
    colour = PALETTE[index % len(PALETTE)]
    made = copy.deepcopy(trace)
    made["name"] = f"{label}: {trace.get('name', '')}" if trace.get("name") else label
    made["legendgroup"] = label
    made["marker"] = {**made.get("marker", {}), "color": colour}
    if made.get("type") == "bar":
        made |= {"opacity": 0.55, "showlegend": n == 0, "name": label}
        where = axes.get(trace.get("name"))
        if where is not None:
            made |= {k: v for k, v in zip(("xaxis", "yaxis"), where, strict=True) if v is not None}
    else:
        made["line"] = {**made.get("line", {}), "color": colour, "dash": DASHES[n % len(DASHES)]}
    if isinstance(made.get("error_y"), dict):
        made["error_y"] = {**made["error_y"], "color": colour}
    return made


def _in_order(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))
