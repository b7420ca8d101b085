"""One unit of work: a session that commits at the end, then fires its wake-ups."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from calchub.server.services.wakeups import Wakeups


def wake(session: Session, *keys: str) -> None:
    """Wake these keys' waiters once the session's transaction commits."""
    session.info.setdefault("wake", set()).update(keys)


@contextmanager
def unit_of_work(factory: Callable[[], Session], wakeups: Wakeups) -> Iterator[Session]:
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        keys = session.info.pop("wake", set())
    if keys:
        wakeups.notify(keys)
