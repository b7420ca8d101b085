"""The log feed: events of agents and of the service, as the API, the client and the CLI see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

Level = Literal["debug", "info", "warning", "error"]
#: The levels from the least to the most urgent; a filter "at least warning" takes the last two.
LEVELS: tuple[Level, ...] = ("debug", "info", "warning", "error")
#: Who said it: an agent (about its machine or its work) or the server (changes people made).
Source = Literal["agent", "server"]
#: The most entries one answer carries.
MAX_PAGE = 500


def at_least(level: Level) -> list[Level]:
    """The levels as urgent as ``level`` or more."""
    return list(LEVELS[LEVELS.index(level) :])


class LogEntry(BaseModel):
    id: int
    at: datetime
    level: Level
    source: str
    #: What happened, dotted: "cluster.registered", "key.revoked", "agent.connected",
    #: "calculation.failed" ...
    kind: str
    cluster: str | None = None
    project: str | None = None
    calculation_id: int | None = None
    #: Who did it: "user:alice", "agent:node-1", "server".
    actor: str = ""
    message: str
    data: dict[str, Any] | None = None


class LogPage(BaseModel):
    """Entries newest first; ``older`` is the ``before_id`` of the next page, when there may be one."""

    items: list[LogEntry]
    older: int | None = None


class Purged(BaseModel):
    """What ``DELETE /logs`` removed."""

    deleted: int
    before: datetime
