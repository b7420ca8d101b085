"""/studies: a sweep makes a study of calculations, one per point of a parameter space."""

from __future__ import annotations

from fastapi import APIRouter, status

from calchub.contracts import studies as wire
from calchub.server.api.deps import HubDep, Writer
from calchub.server.services import sweeps

router = APIRouter(prefix="/studies", tags=["studies"])


@router.post("", response_model=wire.SweepCreated, status_code=status.HTTP_201_CREATED)
def sweep(hub: HubDep, user: Writer, body: wire.SweepCreate) -> wire.SweepCreated:
    """Run ``template`` (a typed calculation) at every point of ``space``, as the study ``study``:
    all the calculations are created, or none (422 names the axis or point at fault)."""
    with hub.uow() as session:
        return sweeps.create(session, hub.store, user, body, hub.calctypes)
