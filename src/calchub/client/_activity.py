"""The client's calls about the log feed of agent and service events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx

from calchub.client._base import BaseClient
from calchub.client.errors import ServerUnreachable, raise_for
from calchub.contracts.activity import Level, LogEntry, LogPage, Purged


class ActivityMixin(BaseClient):
    def log_feed(
        self,
        *,
        level: Level | None = None,
        source: str | None = None,
        kind: str | None = None,
        cluster: str | None = None,
        calculation: int | None = None,
        search: str | None = None,
        since: datetime | None = None,
        before: datetime | None = None,
        before_id: int | None = None,
        after_id: int | None = None,
        limit: int = 50,
    ) -> LogPage:
        """The entries you may see, newest first. ``level`` keeps that level and the more urgent
        ones, ``kind`` the kinds that start so ("agent", "key."); pass ``page.older`` as
        ``before_id`` for the next page, and the newest id you have as ``after_id`` for what came since."""
        params = _params(locals())
        return LogPage.model_validate(self._call("GET", "/logs", params=params).json())

    def follow_log_feed(
        self,
        *,
        level: Level | None = None,
        source: str | None = None,
        kind: str | None = None,
        cluster: str | None = None,
        calculation: int | None = None,
        search: str | None = None,
        since: datetime | None = None,
        after_id: int | None = None,
    ) -> Iterator[LogEntry]:
        """Entries as they happen, oldest first, from ``after_id`` on (from now without it), until
        the loop stops or the credential stops working."""
        params = _params(locals()) | {"follow": "true"}
        try:
            with self._http.stream("GET", "/logs", params=params, timeout=None) as response:
                if not response.is_success:
                    response.read()
                    raise_for(response)
                for line in response.iter_lines():
                    if line.strip():
                        yield LogEntry.model_validate_json(line)
        except httpx.TransportError as error:
            raise ServerUnreachable(f"lost the log feed from {self.url}: {error}") from error

    def delete_logs(self, before: datetime) -> Purged:
        """Delete every entry older than ``before`` (admins); how many went."""
        answer = self._call("DELETE", "/logs", params={"before": before.isoformat()})
        return Purged.model_validate(answer.json())


def _params(given: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments as query parameters, leaving out those not given."""
    names = {"search": "q"}
    params: dict[str, Any] = {}
    for key, value in given.items():
        if key == "self" or value is None:
            continue
        params[names.get(key, key)] = value.isoformat() if isinstance(value, datetime) else value
    return params
