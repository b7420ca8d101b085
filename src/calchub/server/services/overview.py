"""What the dashboard shows: clusters and their load, counts by state, recent and running work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from calchub.contracts import calculations as wire
from calchub.contracts.clusters import Cluster
from calchub.domain.states import HELD, State
from calchub.server.repositories import calculations as repo
from calchub.server.services import calculations, clusters
from calchub.server.services.auth import Caller


@dataclass
class Overview:
    clusters: list[Cluster]
    #: Agents of each cluster with their last heartbeat: name -> status.
    agents: dict[str, dict[str, Any]]
    counts: dict[str, int]
    recent: list[wire.Calculation]
    mine_running: list[wire.Calculation]


def overview(session: Session, caller: Caller, recent: int = 10) -> Overview:
    visible = None if caller.sees_all else sorted(caller.projects)
    found = clusters.all_clusters(session)
    mine = repo.ListQuery(owner_id=caller.id, states=[s.value for s in HELD], limit=recent)
    return Overview(
        clusters=[clusters.to_wire(c) for c in found],
        agents={c.name: (c.status or {}).get("agents", {}) for c in found},
        counts={s.value: n for s, n in _counts(session, visible).items()},
        recent=calculations.search(session, caller, repo.ListQuery(limit=recent)).items,
        mine_running=calculations.search(session, caller, mine).items,
    )


def _counts(session: Session, visible: list[int] | None) -> dict[State, int]:
    found = repo.state_counts(session, visible)
    return {state: found.get(state.value, 0) for state in State}
