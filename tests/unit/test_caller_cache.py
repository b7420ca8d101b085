"""The server's short memory of who a credential belongs to."""

import pytest

from calchub.server.hub import CallerCache


def test_remembers_until_cleared() -> None:
    cache = CallerCache(ttl=60)
    cache.put("chu_secret", "alice")
    assert cache.get("chu_secret") == "alice"
    assert cache.get("chu_other") is None
    cache.clear()
    assert cache.get("chu_secret") is None


def test_forgets_after_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("calchub.server.hub.time.monotonic", lambda: clock[0])
    cache = CallerCache(ttl=5)
    cache.put("chu_secret", "alice")
    clock[0] += 4.9
    assert cache.get("chu_secret") == "alice"
    clock[0] += 0.2
    assert cache.get("chu_secret") is None


def test_keeps_no_secret_in_clear() -> None:
    cache = CallerCache()
    cache.put("chu_secret", "alice")
    assert "chu_secret" not in repr(cache._items)
