"""What one server process holds: settings, engine, sessions, store, wake-ups.

Built in the app's lifespan and handed to routes through ``api.deps``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from calchub.server.db.engine import make_engine, make_sessionmaker
from calchub.server.services.unit import unit_of_work
from calchub.server.services.wakeups import Wakeups
from calchub.server.settings import Settings
from calchub.server.storage import Store


@dataclass
class Hub:
    settings: Settings
    engine: Engine
    store: Store
    wakeups: Wakeups = field(default_factory=Wakeups)

    def __post_init__(self) -> None:
        self._sessions = make_sessionmaker(self.engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> Hub:
        return cls(
            settings,
            make_engine(settings.resolved_database_url()),
            Store(settings.resolved_storage_dir()),
        )

    @contextmanager
    def uow(self) -> Iterator[Session]:
        with unit_of_work(self._sessions, self.wakeups) as session:
            yield session
