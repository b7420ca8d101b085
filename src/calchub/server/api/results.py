"""/results and /calculations/{id}/results: the numbers kept from calculations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from calchub.contracts import results as wire
from calchub.contracts.calculations import Id
from calchub.domain.states import State
from calchub.server.api.deps import CalcReader, HubDep, Reader, RecordId
from calchub.server.repositories.results import TableQuery
from calchub.server.services import results

router = APIRouter(tags=["results"])


@router.get("/calculations/{calc_id}/results", response_model=wire.CalculationResults)
def of_calculation(hub: HubDep, user: CalcReader, calc_id: RecordId) -> wire.CalculationResults:
    with hub.uow() as session:
        return results.of_calculation(session, user, calc_id)


@router.get("/results", response_model=wire.ResultsTable)
def table(
    hub: HubDep,
    user: Reader,
    type: Annotated[str | None, Query(description="only calculations of this type")] = None,
    project: str | None = None,
    study: str | None = None,
    owner: str | None = None,
    state: Annotated[list[State] | None, Query()] = None,
    ids: Annotated[list[Id] | None, Query(max_length=10_000)] = None,
    fields: Annotated[
        str | None, Query(description="comma-separated result names or inputs.<name>; all scalars when unset")
    ] = None,
    format: Literal["json", "csv"] = "json",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
) -> wire.ResultsTable | Response:
    """One row per calculation and one column per field: the table that trains models."""
    chosen = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    if chosen:
        results.check_fields(chosen)
    query = TableQuery(
        calctype=type,
        study=study,
        states=[s.value for s in state or []],
        ids=ids or [],
        limit=limit,
    )
    with hub.uow() as session:
        found = results.table(session, user, query, owner, project, chosen)
    if format == "csv":
        return Response(results.as_csv(found), media_type="text/csv; charset=utf-8")
    return found
