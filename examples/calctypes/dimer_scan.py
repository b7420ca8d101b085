"""A calculation type as a Python class: scan a Lennard-Jones dimer and locate its minimum.

Copy this file into ``$CALCHUB_HOME/calctypes/`` (on the server and on each agent
that runs it), or ship it in a package that declares it under the
``calchub.calctypes`` entry point group::

    [project.entry-points."calchub.calctypes"]
    dimer_scan = "mypackage.dimer_scan:DimerScan"

Then ``calchub submit -t dimer_scan -i points=200`` and ``calchub results <id>``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from calchub.calctypes import Analysis, AnalysisContext, CalcType, Results, RunDir, Series, line_chart
from calchub.calctypes.parsing import whitespace_table

SCAN = """\
epsilon, sigma = {{ epsilon }}, {{ sigma }}
print("r energy")
for i in range({{ points }}):
    r = {{ r_min }} + i * ({{ r_max }} - {{ r_min }}) / ({{ points }} - 1)
    print(r, 4 * epsilon * ((sigma / r) ** 12 - (sigma / r) ** 6))
print("scan done")
"""


def locate_minimum(ctx: AnalysisContext) -> None:
    """Refine the lowest scanned point with a parabola through it and its neighbours."""
    r = [float(v) for v in ctx.results.column("scan", "r") if v is not None]
    e = [float(v) for v in ctx.results.column("scan", "energy") if v is not None]
    i = min(range(1, len(e) - 1), key=e.__getitem__)
    denominator = e[i - 1] - 2 * e[i] + e[i + 1]
    shift = 0.5 * (e[i - 1] - e[i + 1]) / denominator if denominator else 0.0
    spacing = r[1] - r[0]
    ctx.results.scalar("r_min", r[i] + shift * spacing, "Å")
    ctx.results.scalar("e_min", e[i] - 0.25 * (e[i - 1] - e[i + 1]) * shift, "eV")


def plot_scan(ctx: AnalysisContext) -> None:
    r = [float(v) for v in ctx.results.column("scan", "r") if v is not None]
    e = [float(v) for v in ctx.results.column("scan", "energy") if v is not None]
    shown = [(x, y) for x, y in zip(r, e, strict=True) if y < abs(min(e)) * 2]
    series = Series("E(r)", [x for x, _ in shown], [y for _, y in shown])
    marker = Series("minimum", [ctx.results.value("r_min")], [ctx.results.value("e_min")], style="points")
    ctx.figure("scan", line_chart([series, marker], "Dimer energy", "r (Å)", "E (eV)"), "Dimer energy")


class DimerScan(CalcType):
    name = "dimer_scan"
    version = "1.0"
    title = "Lennard-Jones dimer scan"
    description = "Energy of two atoms against distance; the minimum located by a parabola fit."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "epsilon": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 0.0104,
                "description": "well (eV)",
            },
            "sigma": {"type": "number", "exclusiveMinimum": 0, "default": 3.4, "description": "size (Å)"},
            "r_min": {"type": "number", "exclusiveMinimum": 0, "default": 3.0, "description": "Å"},
            "r_max": {"type": "number", "exclusiveMinimum": 0, "default": 6.0, "description": "Å"},
            "points": {"type": "integer", "minimum": 5, "maximum": 100000, "default": 100},
        },
    }
    templates: ClassVar[dict[str, str]] = {"scan.py": SCAN}
    command: ClassVar[list[str]] = ["python3", "scan.py"]
    resources: ClassVar[dict[str, Any]] = {"cores": 1, "walltime": 300}
    provides = ("scan",)
    analyses = (
        Analysis("minimum", locate_minimum, needs=("scan",), description="r_min and e_min"),
        Analysis("plot", plot_scan, needs=("scan", "minimum"), description="E(r) with its minimum"),
    )

    def check(self, inputs: dict[str, Any], analyses: list[str]) -> list[tuple[str, str, str]]:
        if inputs["r_min"] >= inputs["r_max"]:
            return [("inputs.r_max", "order", "r_max must be larger than r_min")]
        return []

    def validate(self, run: RunDir) -> list[str]:
        if "scan done" not in run.stdout():
            return ["the scan did not finish: 'scan done' is missing from its output"]
        found = whitespace_table(run.stdout(), "r")
        energies = [row[1] for row in found[1]] if found else []
        if len(energies) < 3 or min(energies) in (energies[0], energies[-1]):
            return ["the lowest energy is at the edge of the scan: widen r_min..r_max"]
        return []

    def extract(self, run: RunDir, results: Results) -> None:
        found = whitespace_table(run.stdout(), "r")
        assert found is not None
        results.table("scan", found[0], found[1], units=["Å", "eV"])
