"""What a study's page reads of its calculations: SQL only.

A study's calculations are those of its project that name it (``calculations.study``); each
query here is one statement, whatever the number of calculations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.orm import Session, aliased

from calchub.server.db.tables import Calculation, CalculationLink, Result, Study


def _of(study: Study, calc: type[Calculation] = Calculation) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = (calc.project_id == study.project_id) & (calc.study == study.name)
    return condition


def rows(session: Session, study: Study, limit: int) -> Sequence[Row[Any]]:
    """Its first ``limit`` calculations by id: id, name, step, state and inputs."""
    stmt = (
        select(Calculation.id, Calculation.name, Calculation.step, Calculation.state, Calculation.inputs)
        .where(_of(study))
        .order_by(Calculation.id)
        .limit(limit)
    )
    return session.execute(stmt).all()


def scalars(session: Session, study: Study, up_to: int) -> list[Result]:
    """The scalar results of its calculations with an id up to ``up_to``."""
    stmt = (
        select(Result)
        .join(Calculation, Calculation.id == Result.calculation_id)
        .where(_of(study), Calculation.id <= up_to, Result.kind == "scalar")
        .order_by(Result.calculation_id, Result.name)
    )
    return list(session.scalars(stmt))


def scalar_names(session: Session, study: Study) -> list[tuple[str, str, int]]:
    """Each scalar result's name among its calculations, with a unit and how many have it."""
    stmt = (
        select(Result.name, func.max(Result.unit), func.count())
        .join(Calculation, Calculation.id == Result.calculation_id)
        .where(_of(study), Result.kind == "scalar")
        .group_by(Result.name)
        .order_by(Result.name)
    )
    return [(name, unit or "", count) for name, unit, count in session.execute(stmt)]


def links(session: Session, study: Study, limit: int) -> list[tuple[int, int]]:
    """(parent, child) pairs of its calculations that wait for another of them, at most ``limit``."""
    parent = aliased(Calculation)
    child = aliased(Calculation)
    stmt = (
        select(CalculationLink.parent_id, CalculationLink.child_id)
        .join(child, child.id == CalculationLink.child_id)
        .join(parent, parent.id == CalculationLink.parent_id)
        .where(_of(study, child), _of(study, parent))
        .order_by(CalculationLink.child_id, CalculationLink.parent_id)
        .limit(limit)
    )
    return [(p, c) for p, c in session.execute(stmt)]
