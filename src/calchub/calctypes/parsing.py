"""Small parsers that extractors share: whitespace tables, JSON result files, numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

from calchub.calctypes.results import Results


def number(text: str) -> float | None:
    """A float from text, or None when it is not one (``nan`` and ``inf`` are not numbers here)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def whitespace_table(
    text: str, first_column: str, stop: str | None = None
) -> tuple[list[str], list[list[float]]] | None:
    """The first table whose header line starts with ``first_column``.

    Rows are the following lines with as many fields as the header that all read
    as floats; other lines (warnings) are skipped; the table ends at a line that
    starts with ``stop``. None when no such header is found.
    """
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.split()[:1] == [first_column]), None)
    if start is None:
        return None
    columns = lines[start].split()
    rows: list[list[float]] = []
    for line in lines[start + 1 :]:
        if stop is not None and line.startswith(stop):
            break
        fields = line.split()
        if len(fields) != len(columns):
            continue
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            continue
    return columns, rows


def json_results(path: Path, results: Results) -> None:
    """Scalars from a JSON object: ``{"name": number}`` or ``{"name": {"value", "unit", "error"}}``."""
    if not path.is_file():
        return
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} must hold a JSON object of named results, not {type(data).__name__}")
    for name, item in data.items():
        if isinstance(item, dict):
            results.scalar(name, item.get("value"), str(item.get("unit", "")), item.get("error"))
        elif isinstance(item, list) and item and all(isinstance(r, list) for r in item):
            header, *rows = item
            results.table(name, [str(c) for c in header], rows)
        else:
            results.scalar(name, item)
