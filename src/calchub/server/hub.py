"""What one server process holds: settings, engine, sessions, store, wake-ups.

Built in the app's lifespan and handed to routes through ``api.deps``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from calchub.calctypes.registry import Registry, discover
from calchub.server.db.engine import make_engine, make_sessionmaker
from calchub.server.services import auth
from calchub.server.services.sessions import Lifetimes
from calchub.server.services.unit import CALLERS, unit_of_work
from calchub.server.services.wakeups import Wakeups
from calchub.server.settings import Settings
from calchub.server.storage import Store

C = TypeVar("C", auth.Caller, auth.AgentCaller)


class CallerCache:
    """Who a credential belongs to, remembered for a few seconds.

    Saves a database transaction on every request. Every change to what a
    credential may do clears it, in this process and (through the ``callers``
    wake-up) in the other replicas. An entry never outlives its credential's
    own expiry, and a lookup that raced a clear is not stored: ``generation()``
    is taken before the lookup and ``put`` drops the answer if a clear came
    in between.
    """

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()
        self._generation = 0

    @staticmethod
    def _key(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    def generation(self) -> int:
        return self._generation

    def get(self, secret: str) -> object | None:
        with self._lock:
            found = self._items.get(self._key(secret))
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, secret: str, caller: object, generation: int, valid_until: datetime | None = None) -> None:
        until = time.monotonic() + self.ttl
        if valid_until is not None:
            until = min(until, time.monotonic() + (valid_until - datetime.now(UTC)).total_seconds())
        with self._lock:
            if generation != self._generation:
                return
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[self._key(secret)] = (until, caller)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
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
            timedelta(minutes=self.settings.access_minutes),
            timedelta(days=self.settings.refresh_days),
            timedelta(seconds=self.settings.refresh_reuse_seconds),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Hub:
        return cls(
            settings,
            make_engine(settings.resolved_database_url()),
            Store(settings.resolved_storage_dir()),
            calctypes=discover(settings.home),
        )

    def user_for(self, secret: str) -> auth.Caller:
        """The user a credential belongs to, from the cache or the database."""
        return self._caller(
            secret, auth.Caller, lambda session: auth.user_for_token(session, secret, self.key)
        )

    def agent_for(self, secret: str) -> auth.AgentCaller:
        return self._caller(secret, auth.AgentCaller, lambda session: auth.agent_for_key(session, secret))

    def _caller(self, secret: str, kind: type[C], lookup: Callable[[Session], C]) -> C:
        cached = self.callers.get(secret)
        if isinstance(cached, kind):
            return cached
        generation = self.callers.generation()
        with self.uow() as session:
            found = lookup(session)
        self.callers.put(secret, found, generation, found.valid_until)
        return found

    @contextmanager
    def uow(self) -> Iterator[Session]:
        broadcast = self.engine.dialect.name == "postgresql"
        with unit_of_work(self._sessions, self.wakeups, broadcast=broadcast) as session:
            yield session
