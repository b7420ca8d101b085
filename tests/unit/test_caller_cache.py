"""The server's short memory of who a credential belongs to."""

from datetime import UTC, datetime, timedelta

import pytest

from calchub.server.hub import CallerCache


def test_remembers_until_cleared() -> None:
    cache = CallerCache(ttl=60)
    cache.put("chu_secret", "alice", cache.generation())
    assert cache.get("chu_secret") == "alice"
    assert cache.get("chu_other") is None
    cache.clear()
    assert cache.get("chu_secret") is None


def test_forgets_after_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("calchub.server.hub.time.monotonic", lambda: clock[0])
    cache = CallerCache(ttl=5)
    cache.put("chu_secret", "alice", cache.generation())
    clock[0] += 4.9
    assert cache.get("chu_secret") == "alice"
    clock[0] += 0.2
    assert cache.get("chu_secret") is None


def test_never_outlives_the_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("calchub.server.hub.time.monotonic", lambda: clock[0])
    cache = CallerCache(ttl=5)
    cache.put("chu_secret", "alice", cache.generation(), datetime.now(UTC) + timedelta(seconds=1))
    clock[0] += 0.5
    assert cache.get("chu_secret") == "alice"
    clock[0] += 1.0
    assert cache.get("chu_secret") is None, "the token expired before the cache's own time"
    cache.put("chu_gone", "bob", cache.generation(), datetime.now(UTC) - timedelta(seconds=1))
    assert cache.get("chu_gone") is None


def test_an_answer_looked_up_before_a_clear_is_not_kept() -> None:
    cache = CallerCache()
    before = cache.generation()
    cache.clear()  # a block commits while the lookup runs
    cache.put("chu_secret", "alice with her old rights", before)
    assert cache.get("chu_secret") is None


def test_keeps_no_secret_in_clear() -> None:
    cache = CallerCache()
    cache.put("chu_secret", "alice", cache.generation())
    assert "chu_secret" not in repr(cache._items)
