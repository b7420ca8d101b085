"""Sizes, durations and free slots (domain.resources)."""

from __future__ import annotations

import pytest

from calchub.domain.resources import Slots, parse_memory, parse_walltime

KI, MI, GI, TI = 1024, 1024**2, 1024**3, 1024**4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1024", 1024),
        ("100B", 100),
        ("1K", KI),
        ("1kb", KI),
        ("512M", 512 * MI),
        ("512MB", 512 * MI),
        ("2G", 2 * GI),
        ("2GiB", 2 * GI),
        ("2gib", 2 * GI),
        ("1.5G", int(1.5 * GI)),
        (" 3 T ", 3 * TI),
        ("1Ti", TI),
    ],
)
def test_parse_memory(text: str, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "G", "two gigs", "-1G", "1.2.3G", "5X", "1GG", "1 GiBs", "0x10"])
def test_parse_memory_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size like"):
        parse_memory(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("90", 90),
        (" 90 ", 90),
        ("01:30", 90),
        ("00:00:05", 5),
        ("01:00:00", 3600),
        ("10:00", 600),
        ("1-00:00:00", 86400),
        ("2-03:04:05", 2 * 86400 + 3 * 3600 + 4 * 60 + 5),
        ("1-10:00", 86400 + 600),
    ],
)
def test_parse_walltime(text: str, expected: int) -> None:
    assert parse_walltime(text) == expected


@pytest.mark.parametrize("text", ["", "1h", "1:2:3:4", "-5", "1.5", "::", "a:b", "1-", "01:00:00 PM"])
def test_parse_walltime_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="is not seconds or"):
        parse_walltime(text)


def test_slots_fit_on_cores_and_gpus() -> None:
    free = Slots(cores=2, gpus=1)
    assert free.fits(2, 1, None)
    assert free.fits(1, 0, None)
    assert not free.fits(3, 0, None)
    assert not free.fits(4, 0, None)
    assert not free.fits(1, 2, None)


def test_slots_fit_on_memory_only_when_both_sides_know_it() -> None:
    known = Slots(cores=4, memory_bytes=GI)
    assert known.fits(1, 0, GI)
    assert not known.fits(1, 0, GI + 1)
    assert known.fits(1, 0, None)
    assert Slots(cores=4).fits(1, 0, 100 * GI)


def test_slots_minus_takes_away_what_a_calculation_uses() -> None:
    free = Slots(cores=8, gpus=2, memory_bytes=4 * GI)
    left = free.minus(3, 1, GI)
    assert left == Slots(5, 1, 3 * GI)
    assert free == Slots(8, 2, 4 * GI), "minus returns a new value"
    assert left.minus(5, 1, None) == Slots(0, 0, 3 * GI)
    assert Slots(2).minus(1, 0, GI) == Slots(1, 0, None)
    assert not left.minus(5, 1, None).fits(1, 0, None)
