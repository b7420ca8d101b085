"""Results: SQL only. One row per named scalar, table or figure of a calculation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from calchub.contracts.results import ResultSet
from calchub.server.db.tables import Calculation, Result


def replace(session: Session, sets: Sequence[tuple[int, int, ResultSet]]) -> None:
    """Store each calculation's results, replacing any from an earlier report."""
    if not sets:
        return
    session.execute(delete(Result).where(Result.calculation_id.in_([calc_id for calc_id, _, _ in sets])))
    rows: list[dict[str, Any]] = []
    for calc_id, attempt, found in sets:
        rows += [_scalar_row(calc_id, attempt, s.model_dump()) for s in found.scalars]
        rows += [_row(calc_id, attempt, "table", t.name, t.source, t.model_dump()) for t in found.tables]
        rows += [_row(calc_id, attempt, "figure", f.name, f.source, f.model_dump()) for f in found.figures]
    if rows:
        session.execute(insert(Result), rows)


def _row(
    calc_id: int, attempt: int, kind: str, name: str, source: str, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "calculation_id": calc_id,
        "attempt": attempt,
        "kind": kind,
        "name": name,
        "value": None,
        "text": None,
        "error": None,
        "unit": "",
        "source": source,
        "data": data,
    }


def _scalar_row(calc_id: int, attempt: int, scalar: dict[str, Any]) -> dict[str, Any]:
    value = scalar["value"]
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    row = _row(calc_id, attempt, "scalar", scalar["name"], scalar["source"], {"value": value})
    row |= {
        "value": float(value) if numeric else None,
        "text": None if numeric or value is None else str(value),
        "error": scalar["error"],
        "unit": scalar["unit"],
    }
    return row


def of(session: Session, calc_id: int) -> list[Result]:
    stmt = select(Result).where(Result.calculation_id == calc_id).order_by(Result.kind, Result.id)
    return list(session.scalars(stmt))


@dataclass
class TableQuery:
    owner_id: int | None = None
    calctype: str | None = None
    project_id: int | None = None
    #: Only calculations of these projects; all when None (moderators, admins).
    project_ids: list[int] | None = None
    study: str | None = None
    states: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    limit: int = 10_000


def calculations(session: Session, query: TableQuery) -> list[Calculation]:
    stmt = select(Calculation).order_by(Calculation.id).limit(query.limit)
    filters = {
        Calculation.owner_id: query.owner_id,
        Calculation.calctype: query.calctype,
        Calculation.project_id: query.project_id,
        Calculation.study: query.study,
    }
    for column, wanted in filters.items():
        if wanted is not None:
            stmt = stmt.where(column == wanted)
    if query.project_ids is not None:
        stmt = stmt.where(Calculation.project_id.in_(query.project_ids))
    if query.states:
        stmt = stmt.where(Calculation.state.in_(query.states))
    if query.ids:
        stmt = stmt.where(Calculation.id.in_(query.ids))
    return list(session.scalars(stmt))


def scalars_of(session: Session, calc_ids: Sequence[int], names: Sequence[str] | None) -> list[Result]:
    """The scalar results of these calculations (only ``names`` when given)."""
    if not calc_ids:
        return []
    stmt = select(Result).where(Result.calculation_id.in_(calc_ids), Result.kind == "scalar")
    if names is not None:
        stmt = stmt.where(Result.name.in_(names))
    return list(session.scalars(stmt))
