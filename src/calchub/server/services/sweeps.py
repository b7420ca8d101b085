"""Sweeps: one request makes a study of calculations, one per point of a parameter space.

The template is a typed calculation; each point's values are written into a copy of its
inputs, and the calculations go through the one submission path (``calculations.submit``):
checked, rendered and created all together, or none. Each belongs to the study named.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from calchub.calctypes.registry import Registry
from calchub.contracts import studies as wire
from calchub.contracts.calculations import CalculationCreate
from calchub.domain import sweeps
from calchub.server.services import calculations
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Invalid
from calchub.server.storage import Store

#: How many of the calculations made the answer shows.
SAMPLE = 100


def create(
    session: Session, store: Store, caller: Caller, request: wire.SweepCreate, registry: Registry
) -> wire.SweepCreated:
    template = request.template
    if template.type is None:
        raise Invalid(
            "a sweep varies the inputs of a calculation type: give template.type "
            "(a plain command has no inputs)",
            "template.type",
        )
    try:
        axes = request.space.axes()
        sweeps.size(axes)
        made = [_point(template, request.study, point) for point in sweeps.points(axes)]
    except sweeps.SweepError as error:
        raise Invalid(error.message, f"space.{error.where}" if error.where else "space") from None
    created = calculations.submit(session, store, caller, made, registry)
    return wire.SweepCreated(
        study=request.study,
        project=created[0].project or "",
        count=len(created),
        first_id=created[0].id,
        last_id=created[-1].id,
        sample=created[:SAMPLE],
    )


def _point(template: CalculationCreate, study: str, point: dict[str, object]) -> CalculationCreate:
    """The template at one point: its inputs with the point's values, named after them."""
    shown = " ".join(f"{name}={value}" for name, value in point.items())
    return template.model_copy(
        update={
            "inputs": sweeps.inputs_at(template.inputs, point),
            "study": study,
            "name": f"{template.name} {shown}"[:200],
        }
    )
