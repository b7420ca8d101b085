"""Jobs that outlive the agent (a batch scheduler's): what a restarted agent reattaches to.

One small JSON file per attempt under ``<root>/.jobs``, written once the
scheduler has taken the job and removed once its result is in the spool.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from calchub.contracts.agents import Assignment

log = logging.getLogger("calchub.agent")


class Records:
    def __init__(self, folder: Path, enabled: bool) -> None:
        self.folder = folder
        self.enabled = enabled

    def _path(self, calc_id: int, attempt: int) -> Path:
        return self.folder / f"{calc_id}-{attempt}.json"

    def keep(self, assignment: Assignment, scheduler_id: str) -> None:
        if not self.enabled:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self._path(assignment.id, assignment.attempt)
        tmp = target.with_name(target.name + ".part")
        tmp.write_text(
            json.dumps({"scheduler_id": scheduler_id, "assignment": assignment.model_dump(mode="json")})
        )
        os.replace(tmp, target)

    def drop(self, calc_id: int, attempt: int) -> None:
        if self.enabled:
            self._path(calc_id, attempt).unlink(missing_ok=True)

    def load(self) -> list[tuple[Assignment, str]]:
        if not self.enabled or not self.folder.is_dir():
            return []
        found = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                data = json.loads(path.read_text())
                found.append((Assignment.model_validate(data["assignment"]), str(data["scheduler_id"])))
            except (OSError, ValueError, KeyError) as error:
                log.error("unreadable job record %s: %s", path, error, extra={"action": "agent.records.bad"})
        return found
