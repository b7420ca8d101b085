"""A large batch pauses Python's cycle collector, and the collector always comes back."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from calchub.server.services.collector import _Pause as _CollectorPause


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_a_large_batch_pauses_the_collector_until_the_last_one_ends() -> None:
    pause = _CollectorPause()
    with pause.during(large=False):
        assert gc.isenabled(), "a small batch leaves it alone"
    with pause.during(large=True):
        assert not gc.isenabled()
        with pause.during(large=True):  # another batch at the same time
            assert not gc.isenabled()
        assert not gc.isenabled(), "still paused: the first batch goes on"
    assert gc.isenabled()


def test_the_collector_comes_back_after_a_batch_that_failed() -> None:
    pause = _CollectorPause()
    with pytest.raises(ValueError), pause.during(large=True):
        raise ValueError("a bad point")
    assert gc.isenabled()


def test_a_collector_switched_off_by_someone_else_stays_off() -> None:
    gc.disable()
    with _CollectorPause().during(large=True):
        assert not gc.isenabled()
    assert not gc.isenabled()
