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

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from calchub.calctypes.registry import Registry, discover
from calchub.server.db.engine import make_engine, make_sessionmaker
from calchub.server.services import auth
from calchub.server.services import models as model_registry
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


class ModelRoutes:
    """Where each model's invocations go, remembered until a model changes (the ``models``
    wake-up, from any replica) or for at most ``ttl`` seconds, so an invocation costs no
    database transaction."""

    def __init__(self, ttl: float = 2.0) -> None:
        self.ttl = ttl
        self._items: dict[tuple[str, str | None], tuple[float, model_registry.Route | None]] = {}
        self._lock = threading.Lock()
        self._generation = 0

    def get(self, name: str, version: str | None) -> tuple[bool, model_registry.Route | None]:
        found = self._items.get((name, version))
        if found is None or found[0] < time.monotonic():
            return False, None
        return True, found[1]

    def generation(self) -> int:
        return self._generation

    def put(
        self, name: str, version: str | None, route: model_registry.Route | None, generation: int
    ) -> None:
        with self._lock:
            if generation == self._generation:
                if len(self._items) > 10_000:
                    self._items.clear()
                self._items[(name, version)] = (time.monotonic() + self.ttl, route)

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
    model_routes: ModelRoutes = field(default_factory=ModelRoutes)

    def __post_init__(self) -> None:
        self._sessions = make_sessionmaker(self.engine)
        self._model_http: httpx.AsyncClient | None = None
        # Blocking, revoking, a new role or membership: every replica forgets its callers.
        self.wakeups.on(CALLERS, self.callers.clear)
        self.wakeups.on(model_registry.MODELS, self.model_routes.clear)
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

    @property
    def model_http(self) -> httpx.AsyncClient:
        """The connections of the inference proxy to the models, kept alive between invocations."""
        if self._model_http is None:
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
            self._model_http = httpx.AsyncClient(trust_env=False, limits=limits)
        return self._model_http

    async def close(self) -> None:
        if self._model_http is not None:
            await self._model_http.aclose()
            self._model_http = None

    def model_route(self, name: str, version: str | None) -> model_registry.Route | None:
        """Where a model version's invocations go (the current version's for None)."""
        known, route = self.model_routes.get(name, version)
        if known:
            return route
        generation = self.model_routes.generation()
        with self._sessions() as session:
            route = model_registry.route(session, name, version)
        self.model_routes.put(name, version, route, generation)
        return route

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
