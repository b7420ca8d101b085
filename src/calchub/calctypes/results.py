"""The results builder that extractors and analyses fill in."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from calchub.contracts.results import (
    MAX_PLOT_BYTES,
    MAX_TABLE_CELLS,
    Cell,
    Figure,
    ResultSet,
    Scalar,
    Table,
)


class Results:
    """Named scalars (with units and uncertainties), tables and figures of one run."""

    def __init__(self) -> None:
        self.scalars: dict[str, Scalar] = {}
        self.tables: dict[str, Table] = {}
        self.figures: dict[str, Figure] = {}
        #: The extractor or analysis now adding results; recorded with each.
        self.source = "extract"

    def scalar(
        self, name: str, value: float | int | str | bool | None, unit: str = "", error: float | None = None
    ) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        if error is not None and not math.isfinite(error):
            error = None
        self.scalars[name] = Scalar(name=name, value=value, unit=unit, error=error, source=self.source)

    def table(
        self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Cell]], units: Sequence[str] = ()
    ) -> None:
        width = len(columns)
        bad = next((i for i, row in enumerate(rows) if len(row) != width), None)
        if bad is not None:
            raise ValueError(f"table {name!r}: row {bad} has {len(rows[bad])} cells, not {width}")
        if units and len(units) != width:
            raise ValueError(f"table {name!r}: {len(units)} units for {width} columns")
        cells = [[_cell(c) for c in row] for row in rows]
        self.tables[name] = Table(
            name=name, columns=list(columns), units=list(units), rows=cells, source=self.source
        )
        total = sum(len(t.rows) * len(t.columns) for t in self.tables.values())
        if total > MAX_TABLE_CELLS:
            raise ValueError(f"tables hold {total} cells; keep at most {MAX_TABLE_CELLS} (the rest in files)")

    def figure(self, name: str, path: str, title: str = "", plot: dict[str, Any] | None = None) -> None:
        """A figure kept in the output file ``path``; ``plot`` is the same figure as a Plotly spec.

        Values in the spec that are not finite become ``None``; a spec whose JSON exceeds
        ``MAX_PLOT_BYTES`` is refused (thin the data, as ``figures`` does, or keep it in a file).
        """
        if plot is not None:
            plot = _json_safe(plot)
            size = len(json.dumps(plot, separators=(",", ":")))
            if size > MAX_PLOT_BYTES:
                raise ValueError(
                    f"figure {name!r}: its plot is {size} bytes of JSON; keep at most {MAX_PLOT_BYTES}"
                )
        self.figures[name] = Figure(name=name, path=path, title=title, source=self.source, plot=plot)

    def names(self) -> set[str]:
        return set(self.scalars) | set(self.tables)

    def value(self, name: str) -> Any:
        return self.scalars[name].value

    def column(self, table: str, column: str) -> list[Cell]:
        found = self.tables[table]
        index = found.columns.index(column)
        return [row[index] for row in found.rows]

    def wire(self, bytes_freed: int = 0, files_removed: int = 0) -> ResultSet:
        return ResultSet(
            scalars=list(self.scalars.values()),
            tables=list(self.tables.values()),
            figures=list(self.figures.values()),
            bytes_freed=bytes_freed,
            files_removed=files_removed,
        )


def _json_safe(value: Any) -> Any:
    """``value`` with every float that is not finite replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _cell(value: Any) -> Cell:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, int | float | str):
        return value
    return float(value)
