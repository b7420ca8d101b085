"""The first step: tabulate sin(x) at ``n`` evenly spaced points on [0, upper] in ``table.csv``.

calchub's ``python`` type calls ``main(n=..., upper=...)`` and keeps what it returns as
results (``rows``, which the next step checks). ``python tabulate.py`` runs it with the
defaults.
"""

from __future__ import annotations

import csv
import math


def main(n: int = 201, upper: float = math.pi, path: str = "table.csv") -> dict[str, int]:
    """Write the table (a header, then one ``x,sin_x`` row per point) and say how many rows."""
    if n < 2:
        raise ValueError(f"n is {n}: a table for the trapezoid rule needs at least 2 points")
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["x", "sin_x"])
        for i in range(n):
            x = upper * i / (n - 1)
            writer.writerow([repr(x), repr(math.sin(x))])
    return {"rows": n}


if __name__ == "__main__":
    print(main())
