"""What one server process holds: settings, engine, sessions, store, wake-ups.

Built in the app's lifespan and handed to routes through ``api.deps``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from calchub.calctypes.registry import Registry, discover
from calchub.server.db.engine import make_engine, make_sessionmaker
from calchub.server.services.sessions import Lifetimes
from calchub.server.services.unit import CALLERS, unit_of_work
from calchub.server.services.wakeups import Wakeups
from calchub.server.settings import Settings
from calchub.server.storage import Store


class CallerCache:
    """Who a credential belongs to, remembered for a few seconds.

    Saves a database transaction on every request. Revoking a token or key, or
    switching a cluster, clears it in this process; other replicas forget
    within ``ttl`` seconds.
    """

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    def get(self, secret: str) -> object | None:
        with self._lock:
            found = self._items.get(self._key(secret))
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, secret: str, caller: object) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[self._key(secret)] = (time.monotonic() + self.ttl, caller)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@dataclass
class Hub:
    settings: Settings
    engine: Engine
    store: Store
    wakeups: Wakeups = field(default_factory=Wakeups)
    callers: CallerCache = field(default_factory=CallerCache)
    calctypes: Registry = field(default_factory=Registry)

    def __post_init__(self) -> None:
        self._sessions = make_sessionmaker(self.engine)
        # Blocking, revoking, a new role or membership: every replica forgets its callers.
        self.wakeups.on(CALLERS, self.callers.clear)
        self.key = self.settings.resolved_secret_key()
        self.lifetimes = Lifetimes(
            timedelta(minutes=self.settings.access_minutes), timedelta(days=self.settings.refresh_days)
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Hub:
        return cls(
            settings,
            make_engine(settings.resolved_database_url()),
            Store(settings.resolved_storage_dir()),
            calctypes=discover(settings.home),
        )

    @contextmanager
    def uow(self) -> Iterator[Session]:
        broadcast = self.engine.dialect.name == "postgresql"
        with unit_of_work(self._sessions, self.wakeups, broadcast=broadcast) as session:
            yield session
