"""The client's calls about clusters' load over time (heartbeat samples)."""

from __future__ import annotations

from calchub.client._base import BaseClient, segment
from calchub.contracts.clusters import ClusterLoad


class LoadMixin(BaseClient):
    def cluster_load(self, name: str, hours: float = 6.0) -> ClusterLoad:
        """A cluster's load over the last ``hours`` (at most 720): per agent, CPU %, memory used,
        running calculations and cores, in at most 240 periods."""
        answer = self._call("GET", f"/clusters/{segment(name)}/load", params={"hours": hours})
        return ClusterLoad.model_validate(answer.json())
