"""Hear the wake-ups of other server processes through PostgreSQL LISTEN.

Each process wakes its own long-polls when its own transactions commit. With
several replicas on one PostgreSQL database, a transaction also sends its
wake-up keys with NOTIFY (see ``services.unit``), and this bridge, one per
process, turns what it hears into local wake-ups. So an agent long-polling
on one replica is handed work submitted through another at once.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from sqlalchemy import Engine

from calchub.server.services.unit import CHANNEL
from calchub.server.services.wakeups import Wakeups

log = logging.getLogger("calchub.server")
_MAX_BACKOFF = 10.0


class PostgresWakeups:
    def __init__(self, engine: Engine, wakeups: Wakeups) -> None:
        self.url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.wakeups = wakeups
        self.listening = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after a lost connection."""
        backoff = 0.5
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as error:
                self.listening.clear()
                log.warning(
                    "lost the wake-up channel: %s; again in %.1f s",
                    error,
                    backoff,
                    extra={"action": "wakeups.reconnect"},
                )
                await asyncio.sleep(backoff)  # reconnecting: nothing to await but time
                backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as connection:
            await connection.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            async for note in connection.notifies():
                self.wakeups.notify(note.payload.split())
