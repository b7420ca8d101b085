"""Sweeps and pipelines expanded into the calculations of a study, one set per point.

A sweep's template is a typed calculation; each point's values are written into a copy of
its inputs (dotted names reach into objects). A pipeline's steps are copied once per point
with the point's values as its parameters (``${name}`` in their inputs), and each point's
steps wait for that point's steps only. What comes out goes through the one submission
path (``calculations.submit``): checked, rendered and created all together, or none.
"""

from __future__ import annotations

from typing import Any

from calchub.contracts import studies as wire
from calchub.contracts.calculations import MAX_BATCH, CalculationCreate
from calchub.domain import graphs, pipelines, sweeps
from calchub.server.services.errors import Invalid


def template_points(
    template: CalculationCreate, study: str, space: wire.SpaceSpec
) -> list[CalculationCreate]:
    """The template at every point of ``space``."""
    if template.type is None:
        raise Invalid(
            "a sweep varies the inputs of a calculation type: give template.type "
            "(a plain command has no inputs)",
            "template.type",
        )
    return [_point(template, study, point) for point in _points(space)]


def _points(space: wire.SpaceSpec) -> list[dict[str, Any]]:
    try:
        axes = space.axes()
        sweeps.size(axes)
        return list(sweeps.points(axes))
    except sweeps.SweepError as error:
        raise Invalid(error.message, f"space.{error.where}" if error.where else "space") from None


def _point(template: CalculationCreate, study: str, point: dict[str, object]) -> CalculationCreate:
    """The template at one point: its inputs with the point's values, named after them."""
    return template.model_copy(
        update={
            "inputs": sweeps.inputs_at(template.inputs, point),
            "study": study,
            "name": _named(template.name, point),
        }
    )


def _named(name: str, point: dict[str, object]) -> str:
    shown = " ".join(f"{key}={value}" for key, value in point.items())
    return f"{name} {shown}"[:200] if shown else name


def step_order(pipeline: wire.PipelineSpec) -> list[str]:
    """The pipeline's steps, each after those it waits for; 422 for an unknown step or a cycle."""
    parents: dict[str, list[str]] = {}
    for name, step in pipeline.steps.items():
        for j, parent in enumerate(step.after):
            where = f"pipeline.steps.{name}.after[{j}]"
            if parent.calculation is not None:
                raise Invalid("a pipeline's steps wait for its other steps, named by step", where)
            if parent.step not in pipeline.steps:
                known = ", ".join(sorted(pipeline.steps))
                raise Invalid(
                    f"no step {parent.step!r} in the pipeline (its steps: {known})", f"{where}.step"
                )
        parents[name] = [p.step for p in step.after if p.step is not None]
    try:
        return graphs.order(parents)
    except graphs.CycleError as error:
        raise Invalid(
            f"these steps wait for each other, so none would ever run: {error.shown}",
            "pipeline.steps",
        ) from None


def pipeline_points(
    pipeline: wire.PipelineSpec, study: str, space: wire.SpaceSpec | None
) -> list[CalculationCreate]:
    """Every step of the pipeline at every point of ``space`` (once, with no space)."""
    order = step_order(pipeline)
    points = _points(space) if space is not None else [{}]
    for name in {key for point in points for key in point} - pipeline.parameters.keys():
        declared = ", ".join(sorted(pipeline.parameters)) or "none"
        raise Invalid(f"the pipeline has no parameter {name!r} (its parameters: {declared})", "space")
    if len(points) * len(order) > MAX_CALCULATIONS:
        raise Invalid(
            f"{len(points)} points of {len(order)} steps are {len(points) * len(order)} calculations, "
            f"more than the {MAX_CALCULATIONS} a study may make at once",
            "space",
        )
    many = len(points) > 1
    made = []
    for k, point in enumerate(points):
        values = pipeline.parameters | point
        for name in order:
            made.append(
                _step_at(pipeline.steps[name], name, study, values, point, f"{POINT}{k}" if many else "")
            )
    return made


#: The most calculations one study request makes (as one batch may).
MAX_CALCULATIONS = MAX_BATCH
#: Joins a step's name and its point's number in a swept pipeline's ``step`` ("table@3").
POINT = "@"


def _step_at(
    step: CalculationCreate, name: str, study: str, values: dict[str, Any], point: dict[str, Any], suffix: str
) -> CalculationCreate:
    """One step at one point: its parameters filled in, its links to the same point's steps."""
    try:
        filled = pipelines.substitute({"inputs": step.inputs, "env": step.env}, values)
    except pipelines.PipelineError as error:
        raise Invalid(error.message, f"pipeline.steps.{name}.{error.where}".rstrip(".")) from None
    after = [p.model_copy(update={"step": f"{p.step}{suffix}"}) for p in step.after]
    named = step.name if "name" in step.model_fields_set else name
    return step.model_copy(
        update={
            "inputs": filled["inputs"],
            "env": {key: str(value) for key, value in filled["env"].items()},  # "${n}": its text
            "after": after,
            "step": f"{name}{suffix}",
            "study": study,
            "name": _named(named, point),
        }
    )
