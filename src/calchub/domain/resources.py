"""What a calculation asks for, and whether a site can give it."""

from __future__ import annotations

import re
from dataclasses import dataclass

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_WALLTIME = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$")


def parse_memory(text: str) -> int:
    """``"512M"``, ``"2GiB"``, ``"1.5G"`` or a plain byte count -> bytes."""
    match = _MEMORY.match(text)
    if not match:
        raise ValueError(f"memory {text!r} is not a size like 512M, 2G or 1.5GiB")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "")[:1].upper()])


def parse_walltime(text: str) -> int:
    """Slurm-style ``[D-][HH:]MM:SS`` or a plain number of seconds -> seconds."""
    if text.strip().isdigit():
        return int(text)
    match = _WALLTIME.match(text.strip())
    if not match:
        raise ValueError(f"walltime {text!r} is not seconds or [D-][HH:]MM:SS")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


@dataclass(frozen=True)
class Slots:
    """What an agent has free right now."""

    cores: int
    gpus: int = 0
    memory_bytes: int | None = None

    def fits(self, cores: int, gpus: int, memory_bytes: int | None) -> bool:
        if cores > self.cores or gpus > self.gpus:
            return False
        return self.memory_bytes is None or memory_bytes is None or memory_bytes <= self.memory_bytes

    def minus(self, cores: int, gpus: int, memory_bytes: int | None) -> Slots:
        memory = self.memory_bytes
        if memory is not None and memory_bytes is not None:
            memory -= memory_bytes
        return Slots(self.cores - cores, self.gpus - gpus, memory)
