"""One unit of work: a session that commits at the end, then fires its wake-ups."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session

from calchub.server.services.wakeups import Wakeups

#: The PostgreSQL channel on which server processes tell each other of wake-ups.
CHANNEL = "calchub_wakeups"
#: The wake-up that clears every server process's cache of who a credential belongs to
#: (queued by blocking, revoking, roles, memberships, switching a cluster).
CALLERS = "callers"


def wake(session: Session, *keys: str) -> None:
    """Wake these keys' waiters once the session's transaction commits."""
    session.info.setdefault("wake", set()).update(keys)


#: PostgreSQL's limit on a NOTIFY payload is 8000 bytes; stay well under it.
_PAYLOAD_BYTES = 7000


@contextmanager
def unit_of_work(
    factory: Callable[[], Session], wakeups: Wakeups, *, broadcast: bool = False
) -> Iterator[Session]:
    """A transaction; after it commits, its wake-ups fire here and, with ``broadcast``,
    in every other server process listening on the same PostgreSQL database."""
    with factory() as session:
        try:
            yield session
            _commit(session, broadcast)
        except BaseException as error:
            if not getattr(error, "keep_changes", False):
                session.rollback()
                raise
            _commit(session, broadcast)
            wakeups.notify(session.info.pop("wake", set()))
            raise
        keys = session.info.pop("wake", set())
    if keys:
        wakeups.notify(keys)


def _commit(session: Session, broadcast: bool) -> None:
    if broadcast and session.info.get("wake"):
        _notify_others(session, session.info["wake"])
    session.commit()


def _notify_others(session: Session, keys: set[str]) -> None:
    """NOTIFY is transactional: listeners hear of these keys only if the commit succeeds."""
    for payload in payloads(keys):
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
        )


def payloads(keys: set[str]) -> list[str]:
    """The keys as space-separated payloads, each under PostgreSQL's size limit."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for key in sorted(keys):
        if current and size + len(key) + 1 > _PAYLOAD_BYTES:
            chunks.append(" ".join(current))
            current, size = [], 0
        current.append(key)
        size += len(key) + 1
    if current:
        chunks.append(" ".join(current))
    return chunks
