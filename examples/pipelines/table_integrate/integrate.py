"""The second step: integrate the table of the first with the trapezoid rule.

calchub's ``python`` type calls ``main(path="table.csv", rows=...)``, with ``rows`` the first
step's result of that name, and keeps what it returns as results. The exact integral of
sin(x) on [0, upper] is 1 - cos(upper), so ``error`` says how good the table was.
``python integrate.py [table.csv]`` runs it on a table ``python tabulate.py`` wrote.
Standard library only.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from itertools import pairwise


def read(path: str) -> tuple[list[float], list[float]]:
    """The table's x and y columns (its header row left out)."""
    with open(path, newline="") as table:
        rows = list(csv.reader(table))[1:]
    return [float(x) for x, _ in rows], [float(y) for _, y in rows]


def trapezoid(xs: list[float], ys: list[float]) -> float:
    points = pairwise(zip(xs, ys, strict=True))
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in points)


def main(path: str = "table.csv", rows: int | None = None) -> dict[str, float]:
    """The integral, the rows read and the error against 1 - cos(upper).

    ``rows`` is how many rows the first step says it wrote: a table that lost some is refused.
    """
    xs, ys = read(path)
    if rows is not None and len(xs) != rows:
        raise ValueError(f"{path} has {len(xs)} rows, but the step that wrote it made {rows}")
    if len(xs) < 2:
        raise ValueError(f"{path} has {len(xs)} rows: the trapezoid rule needs at least 2")
    integral = trapezoid(xs, ys)
    upper = xs[-1]
    return {"integral": integral, "rows": len(xs), "error": abs(integral - (1 - math.cos(upper)))}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "table.csv")))
