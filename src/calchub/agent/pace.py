"""How much work an agent claims ahead of its free cores.

A claim costs one round trip to the server. When runs are long, one round of
cores is plenty; when they take less time than a round trip, the cores would
sit idle between claims, so the agent keeps enough waiting to cover several
trips (the server answers slower when it is busy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Never hold more than this many rounds of cores ahead.
MAX_ROUNDS = 64


@dataclass
class Pace:
    round_trip: float = 0.010
    run: float = 1.0
    weight: float = 0.2

    def saw_round_trip(self, seconds: float) -> None:
        self.round_trip += self.weight * (seconds - self.round_trip)

    def saw_run(self, seconds: float) -> None:
        self.run += self.weight * (max(seconds, 1e-4) - self.run)

    def rounds(self) -> int:
        """Rounds of cores to keep claimed ahead: enough to last four round trips."""
        return max(1, min(MAX_ROUNDS, math.ceil(4 * self.round_trip / self.run)))
