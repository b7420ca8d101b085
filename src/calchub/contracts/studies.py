"""Sweeps on the wire: a calculation template and the parameter space it is run over.

A space is a product of axes, or an explicit list of points (see
``calchub.domain.sweeps``). Each axis is one of::

    {"input": "voltage", "values": [0.1, 0.2, 0.3]}
    {"input": "t", "range": {"start": 0, "stop": 1, "step": 0.25}}   # stop left out
    {"input": "t", "range": {"start": 0, "stop": 1, "num": 5}}       # stop taken in
    {"zip": {"a": [1, 2], "b": ["x", "y"]}}                            # step together
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from calchub.contracts.calculations import Calculation, CalculationCreate, Label, Strict
from calchub.domain import sweeps

InputName = Annotated[str, Field(min_length=1, max_length=200)]
#: The most values one list of a request may hold (the points are bounded by ``MAX_POINTS``).
MAX_VALUES = 100_000


class RangeSpec(Strict):
    start: float
    stop: float
    step: float | None = Field(None, description="the stop is left out, as Python's range")
    num: int | None = Field(None, ge=1, le=sweeps.MAX_POINTS, description="this many values, the stop in")


class AxisSpec(Strict):
    """One axis: ``values`` or a ``range`` of one ``input``, or a ``zip`` of several."""

    input: InputName | None = None
    values: Annotated[list[Any], Field(min_length=1, max_length=MAX_VALUES)] | None = None
    range: RangeSpec | None = None
    zip: dict[InputName, Annotated[list[Any], Field(min_length=1, max_length=MAX_VALUES)]] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> AxisSpec:
        kinds = [k for k in ("values", "range", "zip") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("an axis has one of values, range or zip")
        if (self.zip is None) != (self.input is not None):
            raise ValueError("values and range name their input; a zip names its inputs as its keys")
        return self

    def axis(self) -> sweeps.Axis:
        if self.zip is not None:
            return sweeps.zip_axis(self.zip)
        assert self.input is not None
        if self.values is not None:
            return sweeps.values_axis(self.input, self.values)
        assert self.range is not None
        r = self.range
        return sweeps.range_axis(self.input, r.start, r.stop, step=r.step, num=r.num)


Points = Annotated[list[dict[InputName, Any]], Field(min_length=1, max_length=sweeps.MAX_POINTS)]


class SpaceSpec(Strict):
    """A product of axes, or explicit points (each setting the same inputs)."""

    product: Annotated[list[AxisSpec], Field(max_length=32)] = []
    points: Points | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SpaceSpec:
        if bool(self.product) == (self.points is not None):
            raise ValueError("a space is a product of axes or a list of points, one of the two")
        return self

    def axes(self) -> list[sweeps.Axis]:
        """The domain's axes; raises ``SweepError`` naming the part at fault."""
        if self.points is not None:
            return [sweeps.points_axis(self.points)]
        return [spec.axis() for spec in self.product]


class SweepCreate(Strict):
    """A study made of one calculation per point of ``space``: ``template`` with the point's
    values written into its inputs (dotted names reach into objects)."""

    study: Label
    template: CalculationCreate
    space: SpaceSpec


class SweepCreated(BaseModel):
    study: str
    project: str
    count: int
    first_id: int
    last_id: int
    #: The first calculations made (at most 100), with their inputs.
    sample: list[Calculation] = []
