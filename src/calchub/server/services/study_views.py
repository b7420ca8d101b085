"""What a study's page shows beyond the study itself (``studies.describe``): the graph of its
steps or of its calculations, its results table, and a plot of one result against one parameter.

Each function reads the study through ``studies.visible``, as its caller, so a study the
caller may not see is not found, exactly as through the API. The table is one row per
calculation: its id, name, step and state, the values it was run at (the parameters of the
study's space) and its scalar results, from a fixed number of queries whatever the size of
the study. The values come from the study's record: a sweep's are in each calculation's
inputs (dotted names); a swept pipeline's are the point its step names (``table@3`` ran at
point 3 of the space); a group (calculations that joined a study by naming it) varies the
inputs whose values differ between its calculations; a pipeline run once varies nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal, TypeVar

from pydantic import ValidationError
from sqlalchemy.orm import Session

from calchub.contracts import results as result_wire
from calchub.contracts import studies as wire
from calchub.domain import graphs, sweeps
from calchub.domain.states import State
from calchub.server.db.tables import Result, Study
from calchub.server.repositories import projects as project_repo
from calchub.server.repositories import studies as study_repo
from calchub.server.repositories import study_views as repo
from calchub.server.services import results, studies
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Invalid

#: The most calculations drawn as a graph; a study with more is only counted.
MAX_NODES = 60
#: The most rows a table (and its CSV and plots) holds, as the API's results table.
MAX_ROWS = 10_000
#: Inputs a group's table shows as what varies, at most; and the longest text value one may have.
MAX_VARIED = 12
SHORT_TEXT = 40
#: How a swept pipeline's step names its point (``services.sweeps.POINT``).
POINT = "@"

Node = TypeVar("Node", bound=Hashable)


# -- the graph ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphNode:
    """A pipeline's step (its calculations counted by state) or one calculation."""

    key: str
    label: str
    detail: str
    counts: dict[State, int]
    #: Its column: the longest way to it from a node that waits for nothing.
    depth: int
    parents: list[str] = field(default_factory=list)
    calc_id: int | None = None


@dataclass(frozen=True)
class Graph:
    kind: Literal["steps", "calculations"]
    nodes: list[GraphNode]
    #: (parent, child) keys: the child waits for the parent.
    edges: list[tuple[str, str]]
    #: When there are too many calculations to draw (``nodes`` is then empty), how many.
    too_many: int = 0


def graph(session: Session, caller: Caller, shown: wire.Study) -> Graph | None:
    """A pipeline's steps, or the calculations of a study whose calculations wait for one
    another (at most ``MAX_NODES``); None for a study whose calculations wait for nothing."""
    if shown.steps:
        return _steps(shown.steps)
    study = studies.visible(session, caller, shown.id)
    if not repo.links(session, study, 1):
        return None
    if shown.total > MAX_NODES:
        return Graph("calculations", [], [], too_many=shown.total)
    found = repo.rows(session, study, MAX_NODES)
    pairs = repo.links(session, study, MAX_NODES * MAX_NODES)
    parents: dict[str, list[str]] = {str(row.id): [] for row in found}
    for parent, child in pairs:
        if str(parent) in parents and str(child) in parents:
            parents[str(child)].append(str(parent))
    deep = depths(parents)
    nodes = [
        GraphNode(
            key=str(row.id),
            label=f"#{row.id}",
            detail=row.name,
            counts={State(row.state): 1},
            depth=deep[str(row.id)],
            parents=parents[str(row.id)],
            calc_id=row.id,
        )
        for row in found
    ]
    return Graph("calculations", nodes, [(p, c) for c, ps in parents.items() for p in ps])


def _steps(steps: Sequence[wire.StepInfo]) -> Graph:
    parents = {s.name: [p for p in s.after if p != s.name] for s in steps}
    deep = depths(parents)
    nodes = [
        GraphNode(s.name, s.name, s.type or "command", dict(s.counts), deep[s.name], parents[s.name])
        for s in steps
    ]
    return Graph("steps", nodes, [(p, s.name) for s in steps for p in parents[s.name]])


def depths(parents: Mapping[Node, Iterable[Node]]) -> dict[Node, int]:
    """Each node's depth: 0 for one that waits for nothing, else one more than its deepest
    parent (parents named that are not nodes are left out)."""
    known = {node: [p for p in ps if p in parents] for node, ps in parents.items()}
    found: dict[Node, int] = {}
    for node in graphs.order(known):
        found[node] = 1 + max((found[p] for p in known[node]), default=-1)
    return found


# -- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """One scalar result of one calculation: a number or a text, with its error if any."""

    value: Any
    error: float | None = None

    @property
    def number(self) -> float | None:
        v = self.value
        return (
            float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None
        )


@dataclass(frozen=True)
class Column:
    """A scalar result some of the study's calculations have."""

    name: str
    unit: str
    #: How many calculations have it.
    count: int


@dataclass(frozen=True)
class Row:
    id: int
    name: str
    step: str | None
    state: State
    #: The value of each of the table's parameters it ran at (None where it has none).
    values: list[Any]
    #: Each of the table's results (None where it has none).
    scalars: list[Value | None]

    @property
    def step_name(self) -> str | None:
        """Its step without its point (``table`` for ``table@3``)."""
        return self.step.split(POINT)[0] if self.step else None


@dataclass(frozen=True)
class Table:
    parameters: list[str]
    results: list[Column]
    rows: list[Row]

    @property
    def scalar_count(self) -> int:
        """How many scalar results the study's calculations have between them."""
        return sum(c.count for c in self.results)


def table(session: Session, caller: Caller, study_id: int, limit: int = MAX_ROWS) -> Table:
    """The study's first ``limit`` calculations with the values they ran at and their scalars."""
    study = studies.visible(session, caller, study_id)
    found = repo.rows(session, study, min(limit, MAX_ROWS))
    columns = [Column(name, unit, count) for name, unit, count in repo.scalar_names(session, study)]
    kept: dict[int, dict[str, Result]] = {}
    for result in repo.scalars(session, study, found[-1].id) if found else []:
        kept.setdefault(result.calculation_id, {})[result.name] = result
    parameters, values = _values(study, found)
    rows = [
        Row(
            id=row.id,
            name=row.name,
            step=row.step,
            state=State(row.state),
            values=values[row.id],
            scalars=[_value(kept.get(row.id, {}).get(c.name)) for c in columns],
        )
        for row in found
    ]
    return Table(parameters, columns, rows)


def _value(result: Result | None) -> Value | None:
    return None if result is None else Value((result.data or {}).get("value"), result.error)


def _values(study: Study, found: Sequence[Any]) -> tuple[list[str], dict[int, list[Any]]]:
    """What the study varies, and the values each calculation ran at."""
    parameters = [str(p) for p in study.spec.get("parameters") or []]
    if not parameters:
        return _differing(found) if study.kind == "group" else ([], {row.id: [] for row in found})
    if study.kind == "pipeline":
        points = _points(study, [row.step for row in found])
        at = {row.id: _point_of(row.step, points) for row in found}
        return parameters, {i: [point.get(p) for p in parameters] for i, point in at.items()}
    return parameters, {row.id: [_dig(row.inputs, p) for p in parameters] for row in found}


def _points(study: Study, steps: Iterable[str | None]) -> list[dict[str, Any]]:
    """The points of the study's space, as far as its calculations' steps name them."""
    try:
        axes = wire.SpaceSpec.model_validate(study.spec.get("space") or {}).axes()
        wanted = max((_index(step) or 0 for step in steps), default=0)
        return list(islice(sweeps.points(axes), wanted + 1))
    except (ValidationError, sweeps.SweepError):
        return []


def _index(step: str | None) -> int | None:
    """The point a swept pipeline's step names (``table@3``: 3); None for a step of no point."""
    if not step or POINT not in step:
        return None
    number = step.rsplit(POINT, 1)[1]
    return int(number) if number.isdigit() else None


def _point_of(step: str | None, points: list[dict[str, Any]]) -> dict[str, Any]:
    index = _index(step)
    if index is None:  # an unswept pipeline's one point, or a calculation that joined later
        return points[0] if len(points) == 1 and step else {}
    return points[index] if index < len(points) else {}


def _dig(inputs: Any, name: str) -> Any:
    data = inputs
    for part in name.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data if _shown(data) else None if data is None else json.dumps(data)


def _shown(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _differing(found: Sequence[Any]) -> tuple[list[str], dict[int, list[Any]]]:
    """A group's parameters: its calculations' inputs (numbers, switches and short texts, by
    dotted name) whose values differ between them."""
    flat = {row.id: dict(_leaves(row.inputs or {})) for row in found}
    seen: dict[str, set[str]] = {}
    for leaves in flat.values():
        for name, value in leaves.items():
            seen.setdefault(name, set()).add(json.dumps(value))
    chosen = [
        name
        for name in sorted(seen)
        if len(seen[name]) > 1 or any(name not in leaves for leaves in flat.values())
    ][:MAX_VARIED]
    return chosen, {i: [leaves.get(name) for name in chosen] for i, leaves in flat.items()}


def _leaves(data: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _leaves(value, f"{name}.")
        elif isinstance(value, bool | int | float) or (
            isinstance(value, str) and len(value) <= SHORT_TEXT and "\n" not in value
        ):
            yield name, value


def as_csv(found: Table) -> str:
    """The table as CSV, with the API's results table's conventions: units in the headers, an
    ``<name>.error`` column after each result that has errors."""
    with_error = [
        any(cell is not None and cell.error is not None for cell in (r.scalars[n] for r in found.rows))
        for n, _ in enumerate(found.results)
    ]
    columns = ["id", "name", "step", "state", *found.parameters]
    for c, errors in zip(found.results, with_error, strict=True):
        columns += [c.name, f"{c.name}.error"] if errors else [c.name]
    rows: list[list[result_wire.Cell | bool]] = []
    for row in found.rows:
        cells: list[Any] = [row.id, row.name, row.step, row.state.value, *row.values]
        for cell, errors in zip(row.scalars, with_error, strict=True):
            cells.append(None if cell is None else cell.value)
            if errors:
                cells.append(None if cell is None else cell.error)
        rows.append(cells)
    units = {c.name: c.unit for c in found.results if c.unit}
    return results.as_csv(result_wire.ResultsTable(columns=columns, units=units, rows=rows))


# -- a plot of one result against one parameter ------------------------------------------------


@dataclass(frozen=True)
class Trace:
    """One step's points (or all points, for a study without steps): (x, y, error)."""

    name: str
    points: list[tuple[Any, float, float | None]]


@dataclass(frozen=True)
class Plot:
    x: str
    y: str
    unit: str
    traces: list[Trace]
    #: The Plotly spec that draws it (``{"data": ..., "layout": ...}``), as figures have.
    spec: dict[str, Any]

    @property
    def count(self) -> int:
        return sum(len(t.points) for t in self.traces)


def plot(found: Table, x: str, y: str) -> Plot:
    """Result ``y`` against parameter ``x``: one trace per step that has the result, its points
    in the order of ``x`` (numbers) or as they come (texts). 422 for a name the table lacks."""
    if x not in found.parameters:
        raise Invalid(
            f"{x!r} is not a parameter of this study (its parameters: {_listed(found.parameters)})", "x"
        )
    names = [c.name for c in found.results]
    if y not in names:
        raise Invalid(f"{y!r} is not a result of this study (its results: {_listed(names)})", "y")
    i, j = found.parameters.index(x), names.index(y)
    by_step: dict[str, list[tuple[Any, float, float | None]]] = {}
    for row in found.rows:
        cell, at = row.scalars[j], row.values[i]
        if cell is None or cell.number is None or at is None:
            continue
        by_step.setdefault(row.step_name or y, []).append((at, cell.number, cell.error))
    traces = [Trace(name, _ordered(points)) for name, points in by_step.items()]
    unit = found.results[j].unit
    return Plot(x, y, unit, traces, _spec(x, y, unit, traces))


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names) or "none yet"


def _ordered(points: list[tuple[Any, float, float | None]]) -> list[tuple[Any, float, float | None]]:
    numeric = all(isinstance(p[0], int | float) and not isinstance(p[0], bool) for p in points)
    return sorted(points, key=lambda p: p[0]) if numeric else points


def _spec(x: str, y: str, unit: str, traces: Sequence[Trace]) -> dict[str, Any]:
    data = []
    for t in traces:
        trace: dict[str, Any] = {
            "type": "scatter",
            "mode": "lines+markers",
            "name": t.name,
            "x": [p[0] for p in t.points],
            "y": [p[1] for p in t.points],
        }
        if any(p[2] is not None for p in t.points):
            trace["error_y"] = {"type": "data", "array": [p[2] or 0 for p in t.points], "visible": True}
        data.append(trace)
    label = f"{y} [{unit}]" if unit else y
    layout = {
        "title": {"text": f"{y} against {x}"},
        "xaxis": {"title": {"text": x}},
        "yaxis": {"title": {"text": label}},
        "showlegend": len(traces) > 1,
        "hovermode": "closest",
    }
    return {"data": data, "layout": layout}


# -- the study of a calculation --------------------------------------------------------------


def id_of(session: Session, caller: Caller, project: str | None, name: str | None) -> int | None:
    """The id of the study ``name`` of ``project``, if there is one the caller sees."""
    if project is None or name is None:
        return None
    found = project_repo.by_name(session, project)
    if found is None or not caller.sees(found.id):
        return None
    study = study_repo.by_name(session, found.id, name)
    return None if study is None else study.id
