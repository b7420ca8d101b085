"""/calctypes: the calculation types this server knows, with their input schemas."""

from __future__ import annotations

from fastapi import APIRouter

from calchub.contracts import calctypes as wire
from calchub.server.api.deps import HubDep, Reader
from calchub.server.services import calctypes

router = APIRouter(prefix="/calctypes", tags=["calculation types"])


@router.get("", response_model=wire.CalcTypeList)
def list_(hub: HubDep, user: Reader) -> wire.CalcTypeList:
    return calctypes.listing(hub.calctypes)


@router.get("/{name}", response_model=wire.CalcTypeInfo)
def show(hub: HubDep, user: Reader, name: str) -> wire.CalcTypeInfo:
    """One type: its input schema (for forms and checks), uploads, analyses and clean-up."""
    return calctypes.describe(hub.calctypes, name)
