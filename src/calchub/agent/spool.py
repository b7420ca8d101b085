"""A durable, ordered outbox on disk for what the agent must tell the server.

Each entry is one JSON file, written whole (temporary file, then rename) and
removed only after the server acknowledged it. An agent that cannot reach the
server, or that is restarted, delivers the same entries later, in order; the
server treats a repeated report as a duplicate, so each lands exactly once.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Entry:
    name: str
    body: dict[str, Any]


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count()
        self._stamp = time.time_ns()

    def put(self, body: dict[str, Any]) -> str:
        # Names sort in the order entries were made, across restarts too.
        name = f"{self._stamp:020d}-{next(self._counter):09d}.json"
        tmp = self.folder / f".{name}.part"
        tmp.write_text(json.dumps(body))
        os.replace(tmp, self.folder / name)
        return name

    def pending(self) -> list[Entry]:
        entries = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                entries.append(Entry(path.name, json.loads(path.read_text())))
            except (OSError, ValueError):
                path.rename(path.with_suffix(".broken"))
        return entries

    def done(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)
