"""Heartbeats kept as samples, for graphs of a cluster's load over time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from calchub.contracts import agents as wire
from calchub.server.db.tables import Cluster


def record(session: Session, cluster: Cluster, beat: wire.Heartbeat, at: datetime) -> None:
    """Keep what ``beat`` says of its machine (thinned as samples age)."""
