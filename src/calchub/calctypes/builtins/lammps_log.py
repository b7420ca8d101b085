"""Reading a LAMMPS log: the thermo table, the ``Loop time`` and ``Performance`` lines, errors, the end.

Written for the log of LAMMPS 29 Sep 2021 (Debian's ``lmp``): a thermo table starts
at a header line whose first word is ``Step`` and ends at ``Loop time of ...``;
rows are lines with as many words as the header that all read as floats
(``-nan`` and ``inf`` included, so a validator can see them); ``WARNING`` lines
inside the table are skipped. Every ``run`` command prints its own table; rows
of tables with the same header are joined.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

LOOP = re.compile(r"^Loop time of (\S+) on (\d+) procs for (\d+) steps with (\d+) atoms")
PERFORMANCE = re.compile(r"^Performance:.*?(\S+) timesteps/s")


@dataclass(frozen=True)
class Loop:
    """One ``Loop time of S on P procs for N steps with A atoms`` line."""

    seconds: float
    procs: int
    steps: int
    atoms: int


@dataclass
class Log:
    columns: list[str] = field(default_factory=list)
    rows: list[list[float]] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)
    #: Lines starting with ``ERROR``.
    errors: list[str] = field(default_factory=list)
    last_command: str = ""
    timesteps_per_second: float | None = None
    #: The log ends with ``Total wall time:``.
    finished: bool = False
    #: The last line, when it is a thermo row cut short (the process was killed mid-write).
    cut_row: str = ""

    @property
    def last_step(self) -> int | None:
        return int(self.rows[-1][0]) if self.rows else None

    def column(self, name: str) -> list[float]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def bad_rows(self) -> list[list[float]]:
        """Rows holding ``nan`` or ``inf``."""
        return [row for row in self.rows if not all(math.isfinite(v) for v in row)]


def parse(text: str) -> Log:
    log = Log()
    in_table = False
    for line in text.splitlines():
        words = line.split()
        if line.startswith("ERROR"):
            log.errors.append(line.strip())
        elif line.startswith("Last command:"):
            log.last_command = " ".join(line.removeprefix("Last command:").split())
        elif words[:1] == ["Step"]:
            log.columns = log.columns or words
            in_table = words == log.columns
        elif line.startswith("Loop time of"):
            in_table = False
            _loop(log, line)
        elif in_table:
            row = _row(words, len(log.columns))
            if row is not None:
                log.rows.append(row)
        else:
            _trailer(log, line)
    if in_table:
        _cut(log, text)
    return log


def _row(words: list[str], width: int) -> list[float] | None:
    if len(words) != width:
        return None
    try:
        return [float(w) for w in words]
    except ValueError:
        return None


def _loop(log: Log, line: str) -> None:
    found = LOOP.match(line)
    if found:
        seconds, procs, steps, atoms = found.groups()
        log.loops.append(Loop(float(seconds), int(procs), int(steps), int(atoms)))


def _trailer(log: Log, line: str) -> None:
    if line.startswith("Total wall time:"):
        log.finished = True
        return
    found = PERFORMANCE.match(line)
    if found:
        try:
            log.timesteps_per_second = float(found.group(1))
        except ValueError:
            log.timesteps_per_second = None


def _cut(log: Log, text: str) -> None:
    """Note a log that ends inside a table mid-line; a row without its newline may be cut, so drop it."""
    last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")
    complete = _row(last.split(), len(log.columns)) is not None
    if complete and not text.endswith("\n"):
        log.rows.pop()
        log.cut_row = last
    elif not complete and last[:1].isdigit():
        log.cut_row = last
