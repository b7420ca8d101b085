from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

import calchub
from calchub.server.api.deps import Anyone, HubDep

router = APIRouter(tags=["health"])


@router.get("/health", dependencies=[Anyone])
def health(hub: HubDep) -> dict[str, Any]:
    """Liveness and database reachability; needs no credentials."""
    with hub.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"status": "ok", "version": calchub.__version__, "database": hub.engine.dialect.name}
