"""Studies on the wire: sweeps (a calculation template and the parameter space it is run
over), pipelines (a graph of steps), and the study records that group them.

A space is a product of axes, or an explicit list of points (see
``calchub.domain.sweeps``). Each axis is one of::

    {"input": "voltage", "values": [0.1, 0.2, 0.3]}
    {"input": "t", "range": {"start": 0, "stop": 1, "step": 0.25}}   # stop left out
    {"input": "t", "range": {"start": 0, "stop": 1, "num": 5}}       # stop taken in
    {"zip": {"a": [1, 2], "b": ["x", "y"]}}                            # step together
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from calchub.contracts.calculations import Calculation, CalculationCreate, Label, ProjectRef, Strict
from calchub.domain import sweeps
from calchub.domain.states import TERMINAL, State

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


class PipelineSpec(Strict):
    """A graph of steps, each a calculation whose ``after`` names earlier steps by ``step``.

    ``parameters`` are the values a run of the pipeline may change (``--set``, or the axes of
    a space): an input whose value is the string ``"${name}"`` takes the parameter as it is,
    and ``${name}`` inside a longer string is replaced by its text.
    """

    parameters: dict[InputName, Any] = Field(default_factory=dict)
    steps: Annotated[dict[Label, CalculationCreate], Field(min_length=1, max_length=100)]


class StudyCreate(Strict):
    """A study: a name and a description, and what to run in it, if anything yet.

    With ``template`` and ``space``: a sweep, one calculation per point (dotted names reach
    into the template's inputs). With ``pipeline``: its whole graph once, or once per point of
    ``space`` (whose names are the pipeline's parameters). With neither, an empty study that
    calculations join by naming it.
    """

    study: Label
    description: Annotated[str, Field(max_length=10_000)] = ""
    project: ProjectRef | None = Field(None, description="the template's or steps' project when unset")
    template: CalculationCreate | None = None
    pipeline: PipelineSpec | None = None
    space: SpaceSpec | None = None

    @model_validator(mode="after")
    def _what_to_run(self) -> StudyCreate:
        if self.template is not None and self.pipeline is not None:
            raise ValueError("a study runs a template over a space, or a pipeline; not both")
        if self.template is not None and self.space is None:
            raise ValueError("a template is run over a space: give space")
        if self.template is None and self.pipeline is None and self.space is not None:
            raise ValueError("a space needs a template or a pipeline to run at its points")
        return self


class StudyCreated(BaseModel):
    id: int
    study: str
    project: str
    count: int
    first_id: int | None = None
    last_id: int | None = None
    #: The first calculations made (at most 100), with their inputs.
    sample: list[Calculation] = []


class StepInfo(BaseModel):
    """One step of a pipeline study, with the states of its calculations (one per point)."""

    name: str
    type: str | None = None
    after: list[str] = []
    counts: dict[State, int] = {}


class Study(BaseModel):
    id: int
    name: str
    project: str
    owner: str
    description: str = ""
    created_at: datetime
    kind: Literal["sweep", "pipeline", "group"]
    total: int = 0
    counts: dict[State, int] = {}
    #: The inputs or parameters its space varies.
    parameters: list[str] = []
    #: A pipeline's steps, in order (empty for a sweep or a group).
    steps: list[StepInfo] = []

    @property
    def finished(self) -> int:
        return sum(n for state, n in self.counts.items() if state in TERMINAL)


class StudyList(BaseModel):
    items: list[Study]


class StudyUpdate(Strict):
    description: Annotated[str, Field(max_length=10_000)]


class StudyCancel(Strict):
    reason: Annotated[str, Field(max_length=1000)] | None = None


class StudyCancelled(BaseModel):
    """What a study's cancel did: its unfinished calculations cancelled, but those of others
    the caller may not cancel (members' calculations that joined the study by naming it)."""

    study: Study
    cancelled: int
    left: int
