"""Calculation types written as one YAML file.

The file declares the same things a Python type does; validators, extractors
and analyses are chosen from a small set of kinds::

    validate:  - exists: out.txt
               - contains: {file: stdout, text: "done"}      (or pattern:)
               - absent:   {file: stdout, pattern: "ERROR"}
    extract:   - scalar: {name: energy, file: out.txt, pattern: 'E = (\\S+)', unit: eV}
               - json:   {file: results.json, provides: [energy]}
               - table:  {name: thermo, file: log.txt, header: Step, stop: "Loop time"}
    analyses:  - {name: plot, needs: [thermo], plot: {table: thermo, x: Step, y: [TotEng]}}
               - {name: stats, needs: [thermo], stats: {table: thermo, columns: [Temp]}}
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from calchub.calctypes.api import Analysis, AnalysisContext, CalcType, RunDir, TypeRefused, Upload
from calchub.calctypes.figures import Series, line_chart
from calchub.calctypes.parsing import json_results, number, whitespace_table
from calchub.calctypes.results import Results

KEYS = {
    "name", "version", "title", "description", "inputs", "uploads", "files", "command", "env",
    "resources", "keep", "cleanup", "validate", "extract", "analyses",
}  # fmt: skip
Extractor = Callable[[RunDir, Results], None]


class DeclaredType(CalcType):
    """A type read from YAML: ``from_spec`` makes one subclass per file."""

    validators: ClassVar[list[Callable[[RunDir], str | None]]] = []
    extractors: ClassVar[list[Extractor]] = []
    text_digest: ClassVar[str] = ""

    def digest(self) -> str:
        return self.text_digest

    def validate(self, run: RunDir) -> list[str]:
        return [problem for check in self.validators if (problem := check(run))]

    def extract(self, run: RunDir, results: Results) -> None:
        for step in self.extractors:
            step(run, results)


def load_yaml(path: Path) -> DeclaredType:
    import yaml

    text = path.read_text()
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TypeRefused(f"{path.name} is not valid YAML: {error}") from None
    return from_spec(spec, text, path.name)


def from_spec(spec: Any, text: str, where: str) -> DeclaredType:
    if not isinstance(spec, dict):
        raise TypeRefused(f"{where}: a calculation type is a mapping of keys like name, version, command")
    unknown = sorted(set(spec) - KEYS)
    if unknown:
        raise TypeRefused(f"{where}: unknown key {unknown[0]!r}; the keys are: {', '.join(sorted(KEYS))}")
    for key in ("name", "version", "command"):
        if key not in spec:
            raise TypeRefused(f"{where}: {key!r} is required")
    attributes = {
        "name": str(spec["name"]),
        "version": str(spec["version"]),
        "title": str(spec.get("title", "")),
        "description": str(spec.get("description", "")),
        "schema": spec.get("inputs", {"type": "object", "properties": {}, "additionalProperties": False}),
        "uploads": tuple(_upload(u, where) for u in spec.get("uploads", [])),
        "templates": {str(k): str(v) for k, v in spec.get("files", {}).items()},
        "command": [str(arg) for arg in _list(spec["command"], "command", where)],
        "env": {str(k): str(v) for k, v in spec.get("env", {}).items()},
        "resources": dict(spec.get("resources", {})),
        "keep": [str(p) for p in _list(spec.get("keep", []), "keep", where)],
        "cleanup": [str(p) for p in _list(spec.get("cleanup", []), "cleanup", where)],
    }
    try:
        extractors = [_extractor(item) for item in _list(spec.get("extract", []), "extract", where)]
        attributes |= {
            "validators": [_validator(item) for item in _list(spec.get("validate", []), "validate", where)],
            "extractors": [run for run, _ in extractors],
            "provides": tuple(name for _, names in extractors for name in names),
            "analyses": tuple(_analysis(item) for item in _list(spec.get("analyses", []), "analyses", where)),
        }
    except (KeyError, TypeError, ValueError, re.error) as error:
        raise TypeRefused(f"{where}: {error}") from None
    attributes["text_digest"] = hashlib.sha256(text.encode()).hexdigest()[:16]
    made: DeclaredType = type(f"Declared_{attributes['name']}", (DeclaredType,), attributes)()
    return made


def _list(value: Any, key: str, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise TypeRefused(f"{where}: {key!r} must be a list")
    return value


def _upload(item: Any, where: str) -> Upload:
    if isinstance(item, str):
        return Upload(item)
    if not isinstance(item, dict) or "path" not in item:
        raise TypeRefused(f"{where}: each upload is a path or a mapping with 'path'")
    return Upload(str(item["path"]), bool(item.get("required", True)), str(item.get("description", "")))


def _one(item: Any, kinds: set[str], what: str) -> tuple[str, Any]:
    if not isinstance(item, dict):
        raise ValueError(f"each {what} is a mapping with one of: {', '.join(sorted(kinds))}")
    found = sorted(set(item) & kinds)
    if len(found) != 1:
        raise ValueError(f"each {what} needs exactly one of: {', '.join(sorted(kinds))}; got {sorted(item)}")
    return found[0], item[found[0]]


def _validator(item: Any) -> Callable[[RunDir], str | None]:
    kind, arg = _one(item, {"exists", "contains", "absent"}, "validator")
    if kind == "exists":
        path = str(arg)
        return lambda run: None if run.exists(path) else f"the run did not write {path!r}"
    source = str(arg["file"])
    pattern = re.compile(arg["pattern"]) if "pattern" in arg else re.compile(re.escape(str(arg["text"])))
    if kind == "contains":
        return lambda run: None if pattern.search(run.text(source)) else f"{source} lacks {pattern.pattern!r}"

    def absent(run: RunDir) -> str | None:
        found = pattern.search(run.text(source))
        return f"{source} says: {_line_of(run.text(source), found.start())}" if found else None

    return absent


def _line_of(text: str, at: int) -> str:
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    return text[start : end if end >= 0 else len(text)].strip()


def _extractor(item: Any) -> tuple[Extractor, list[str]]:
    kind, arg = _one(item, {"scalar", "json", "table"}, "extractor")
    if kind == "json":
        path = str(arg["file"])
        return (lambda run, results: json_results(run.file(path), results)), list(arg.get("provides", []))
    name = str(arg["name"])
    if kind == "scalar":
        pattern, unit, source = re.compile(arg["pattern"]), str(arg.get("unit", "")), str(arg["file"])

        def scalar(run: RunDir, results: Results) -> None:
            matches = pattern.findall(run.text(source))
            if not matches:
                raise ValueError(f"{name}: no match for {pattern.pattern!r} in {source}")
            last = matches[-1] if isinstance(matches[-1], str) else matches[-1][0]
            results.scalar(name, number(last) if number(last) is not None else last, unit)

        return scalar, [name]
    header, stop, source = str(arg["header"]), arg.get("stop"), str(arg["file"])

    def table(run: RunDir, results: Results) -> None:
        found = whitespace_table(run.text(source), header, stop)
        if found is None:
            raise ValueError(f"{name}: no line starting with {header!r} in {source}")
        results.table(name, found[0], found[1])

    return table, [name]


def _analysis(item: Any) -> Analysis:
    if not isinstance(item, dict) or "name" not in item:
        raise ValueError("each analysis is a mapping with 'name', 'needs' and one of: plot, stats")
    kind, arg = _one({k: v for k, v in item.items() if k in {"plot", "stats"}}, {"plot", "stats"}, "analysis")
    step = _plot(arg) if kind == "plot" else _stats(arg)
    needs = tuple(str(n) for n in item.get("needs", []))
    return Analysis(
        str(item["name"]), step, needs, str(item.get("description", "")), bool(item.get("default", True))
    )


def _plot(arg: dict[str, Any]) -> Callable[[AnalysisContext], None]:
    table, x, ys = str(arg["table"]), str(arg["x"]), [str(y) for y in arg["y"]]

    def plot(ctx: AnalysisContext) -> None:
        xs = _floats(ctx.results.column(table, x))
        series = [Series(y, xs, _floats(ctx.results.column(table, y))) for y in ys]
        name = str(arg.get("name", f"{table}_plot"))
        found = ctx.results.tables[table]
        unit = dict(zip(found.columns, found.units, strict=False))
        y_units = {unit.get(y, "") for y in ys}
        units = (unit.get(x, ""), y_units.pop() if len(y_units) == 1 else "")
        chart = line_chart(series, str(arg.get("title", table)), x, ", ".join(ys), units=units)
        ctx.figure(name, chart, str(arg.get("title", "")))

    return plot


def _stats(arg: dict[str, Any]) -> Callable[[AnalysisContext], None]:
    table, columns = str(arg["table"]), [str(c) for c in arg["columns"]]

    def stats(ctx: AnalysisContext) -> None:
        for column in columns:
            values = [v for v in _floats(ctx.results.column(table, column)) if v == v]
            if values:
                ctx.results.scalar(f"{column}.mean", statistics.fmean(values))
                ctx.results.scalar(f"{column}.min", min(values))
                ctx.results.scalar(f"{column}.max", max(values))
                ctx.results.scalar(f"{column}.std", statistics.pstdev(values))

    return stats


def _floats(values: list[Any]) -> list[float]:
    return [float(v) if isinstance(v, int | float) else float("nan") for v in values]
