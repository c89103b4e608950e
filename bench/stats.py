"""Small, exact statistics for benchmark figures: percentiles, spreads and rate windows."""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) by the nearest-rank method; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Spread:
    """Median and range of the repeats of one figure."""

    median: float
    low: float
    high: float
    repeats: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        kept = [v for v in values if not math.isnan(v)]
        if not kept:
            return cls(math.nan, math.nan, math.nan, 0)
        return cls(statistics.median(kept), min(kept), max(kept), len(kept))

    def to_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high, "repeats": self.repeats}


def max_in_window(times: Sequence[float], window: float = 60.0) -> int:
    """The largest number of events in any half-open interval ``[t, t + window)``."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        end = bisect.bisect_left(ordered, start + window, lo=i)
        best = max(best, end - i)
    return best


def allowed_in_span(limit: int, span: float, window: float = 60.0) -> int:
    """Most events a ``limit``-per-``window`` rule allows in ``[0, span)``: one full burst per
    started window."""
    return limit * max(1, math.ceil(span / window))


def rate(count: int, seconds: float) -> float:
    """Events per second; NaN when no time passed."""
    return count / seconds if seconds > 0 else math.nan
