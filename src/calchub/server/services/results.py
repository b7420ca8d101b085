"""Results of one calculation, and the table of results across many."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from calchub.contracts import results as wire
from calchub.server.db.tables import Calculation, Result
from calchub.server.repositories import projects as project_repo
from calchub.server.repositories import results as repo
from calchub.server.repositories import users as user_repo
from calchub.server.services import projects
from calchub.server.services.auth import Caller
from calchub.server.services.calculations import visible
from calchub.server.services.errors import Invalid

#: Columns every row of the results table starts with.
BASE = ("id", "name", "type", "type_version", "state", "project", "study")


def of_calculation(session: Session, caller: Caller, calc_id: int) -> wire.CalculationResults:
    calc = visible(session, caller, calc_id)
    found = wire.CalculationResults(
        id=calc.id,
        state=calc.state,
        calctype=calc.calctype,
        calctype_version=calc.calctype_version,
        bytes_freed=calc.bytes_freed or 0,
    )
    for row in repo.of(session, calc_id):
        data = row.data or {}
        if row.kind == "scalar":
            found.scalars.append(
                wire.Scalar(
                    name=row.name, value=data.get("value"), unit=row.unit, error=row.error, source=row.source
                )
            )
        elif row.kind == "table":
            found.tables.append(wire.Table.model_validate(data))
        elif row.kind == "figure":
            found.figures.append(wire.Figure.model_validate(data))
    return found


def table(
    session: Session,
    caller: Caller,
    query: repo.TableQuery,
    owner: str | None,
    project: str | None,
    fields: Sequence[str] | None,
) -> wire.ResultsTable:
    _scope(session, caller, query, owner, project)
    calcs = repo.calculations(session, query)
    names = {p.id: p.name for p in project_repo.by_ids(session, {c.project_id for c in calcs}).values()}
    scalar_names = None if fields is None else [f for f in fields if not f.startswith("inputs.")]
    scalars = repo.scalars_of(session, [c.id for c in calcs], scalar_names)
    by_calc: dict[int, dict[str, Result]] = {}
    for row in scalars:
        by_calc.setdefault(row.calculation_id, {})[row.name] = row
    chosen = list(fields) if fields is not None else sorted({r.name for r in scalars})
    with_error = {r.name for r in scalars if r.error is not None}
    columns = [*BASE]
    for name in chosen:
        columns += [name, f"{name}.error"] if name in with_error else [name]
    units = {r.name: r.unit for r in scalars if r.unit}
    rows = [
        _row(calc, names[calc.project_id], by_calc.get(calc.id, {}), chosen, with_error) for calc in calcs
    ]
    return wire.ResultsTable(columns=columns, units=units, rows=rows)


def _scope(
    session: Session, caller: Caller, query: repo.TableQuery, owner: str | None, project: str | None
) -> None:
    """Only the projects the caller sees; a user of no visible project is one with no results."""
    query.project_ids = None if caller.sees_all else sorted(caller.projects)
    if project is not None:
        query.project_id = projects.visible(session, caller, project).id
    if owner is not None:
        user = user_repo.by_username(session, owner)
        query.owner_id = user.id if user is not None else -1


def _row(
    calc: Calculation, project: str, found: dict[str, Result], chosen: list[str], with_error: set[str]
) -> list[Any]:
    row: list[Any] = [
        calc.id,
        calc.name,
        calc.calctype,
        calc.calctype_version,
        calc.state,
        project,
        calc.study,
    ]
    for name in chosen:
        if name.startswith("inputs."):
            row.append(_dig(calc.inputs or {}, name.removeprefix("inputs.").split(".")))
            continue
        result = found.get(name)
        row.append(None if result is None else (result.data or {}).get("value"))
        if name in with_error:
            row.append(None if result is None else result.error)
    return row


def _dig(data: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data if isinstance(data, int | float | str | bool) or data is None else str(data)


def check_fields(fields: Sequence[str]) -> None:
    for name in fields:
        if not name or len(name) > 200 or any(ch in name for ch in ",\n\r"):
            raise Invalid(f"field {name!r} is not a result name or inputs.<name>", "fields")


def as_csv(found: wire.ResultsTable) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([_with_unit(c, found.units) for c in found.columns])
    writer.writerows(["" if cell is None else cell for cell in row] for row in found.rows)
    return out.getvalue()


def _with_unit(column: str, units: dict[str, str]) -> str:
    unit = units.get(column)
    return f"{column} [{unit}]" if unit else column
