"""Results: the few numbers, tables and figures kept from a calculation."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

RESULT_NAME = r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$"
#: Cells across all tables of one calculation; more belongs in an output file.
MAX_TABLE_CELLS = 1_000_000
#: The JSON of one figure's plot spec, at most; the chart functions keep well under it.
MAX_PLOT_BYTES = 2_000_000

Cell = float | int | str | None


class Scalar(BaseModel):
    name: Annotated[str, Field(pattern=RESULT_NAME)]
    value: float | int | str | bool | None
    unit: str = ""
    error: float | None = Field(None, description="one-sigma uncertainty, when known")
    source: str = Field("", description="the extractor or analysis that produced it")


class Table(BaseModel):
    name: Annotated[str, Field(pattern=RESULT_NAME)]
    columns: list[str]
    units: list[str] = []
    rows: list[list[Cell]]
    source: str = ""


class Figure(BaseModel):
    name: Annotated[str, Field(pattern=RESULT_NAME)]
    path: str = Field(description="the output file that holds it")
    title: str = ""
    source: str = ""
    plot: dict[str, Any] | None = Field(
        None,
        description=(
            "the same figure as data, a Plotly spec {data: [traces], layout: {...}} that the pages draw "
            "interactively; none for figures recorded as SVG alone"
        ),
    )

    @field_validator("plot")
    @classmethod
    def _a_spec(cls, plot: dict[str, Any] | None) -> dict[str, Any] | None:
        if plot is None:
            return None
        data, layout = plot.get("data"), plot.get("layout", {})
        if not isinstance(data, list) or not all(isinstance(trace, dict) for trace in data):
            raise ValueError("a plot's 'data' is a list of traces (objects)")
        if not isinstance(layout, dict):
            raise ValueError("a plot's 'layout' is an object")
        return plot


class ResultSet(BaseModel):
    scalars: list[Scalar] = []
    tables: list[Table] = []
    figures: list[Figure] = []
    bytes_freed: int = Field(0, ge=0, description="raw bytes deleted by clean-up")
    files_removed: int = Field(0, ge=0)


class CalculationResults(ResultSet):
    id: int
    state: str
    calctype: str | None = None
    calctype_version: str | None = None


class ResultsTable(BaseModel):
    """One row per calculation, one column per chosen field."""

    columns: list[str]
    units: dict[str, str] = {}
    rows: list[list[Cell | bool]]
