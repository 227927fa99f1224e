"""Interleaved timing: every contender runs once per round, in alternating order, and the median wins.

Alternating the order each round spreads slow drifts (another job starting on the machine, frequency
changes) over all contenders instead of charging them to whoever happens to run last. The garbage
collector is off inside each timed call so a collection triggered by one contender's garbage is not
billed to the next.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds per round of one contender (each round runs ``ops`` operations)."""

    seconds: tuple[float, ...]
    ops: int

    @property
    def median_s(self) -> float:
        """Median seconds per round."""
        return statistics.median(self.seconds)

    @property
    def per_op_s(self) -> float:
        """Median seconds per operation."""
        return self.median_s / self.ops

    @property
    def per_s(self) -> float:
        """Operations per second at the median round."""
        return self.ops / self.median_s

    @property
    def spread(self) -> float:
        """(slowest - fastest) ÷ median, a rough noise figure."""
        return (max(self.seconds) - min(self.seconds)) / self.median_s


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int, ops: int) -> dict[str, Timing]:
    """Time each contender ``rounds`` times (one call = ``ops`` operations), round-robin, alternating order."""
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm-up: first calls pay for imports, caches and allocator growth
        contenders[name]()
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                contenders[name]()
                times[name].append(time.perf_counter() - t0)
            finally:
                gc.enable()
    return {name: Timing(tuple(times[name]), ops) for name in names}


def ratio(ours: Timing, direct: Timing) -> float:
    """Overhead: median over the rounds of our time ÷ the direct call's time in the same round (1.0 = none).

    Pairing the rounds cancels load that changes between rounds (both contenders of a round ran back to
    back); under steady load it equals the ratio of the medians.
    """
    if ours.ops != direct.ops or len(ours.seconds) != len(direct.seconds):
        raise ValueError("contenders of one interleaved() run only")
    return statistics.median(o / d for o, d in zip(ours.seconds, direct.seconds, strict=True))
