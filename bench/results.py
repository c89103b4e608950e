"""What a figure reports: rows of repeated measurements, their floors, ratios and targets."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.stats import Spread


@dataclass
class Row:
    """One measured quantity: a value per repeat, optionally the floor's value per repeat."""

    label: str
    unit: str
    values: list[float]
    floor: list[float] | None = None
    target: str = ""
    check: Callable[[Row], bool] | None = None
    higher_is_better: bool = True

    @property
    def spread(self) -> Spread:
        return Spread.of(self.values)

    @property
    def ratio(self) -> Spread | None:
        """Per-repeat value / floor (repeats paired in order)."""
        if not self.floor:
            return None
        return Spread.of(v / f for v, f in zip(self.values, self.floor, strict=False) if f)

    @property
    def met(self) -> bool | None:
        if self.check is None or not self.values or math.isnan(self.spread.median):
            return None
        return bool(self.check(self))

    def to_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "label": self.label, "unit": self.unit, "values": self.values,
            "spread": self.spread.to_dict(), "floor": self.floor,
            "floorSpread": Spread.of(self.floor).to_dict() if self.floor else None,
            "ratio": ratio.to_dict() if ratio else None, "target": self.target, "met": self.met,
        }


@dataclass
class Figure:
    """One numbered benchmark of the issue."""

    name: str
    title: str
    setup: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "setup": self.setup,
                "rows": [row.to_dict() for row in self.rows], "notes": self.notes,
                "error": self.error}


def at_least(limit: float) -> Callable[[Row], bool]:
    return lambda row: row.spread.median >= limit


def at_most(limit: float) -> Callable[[Row], bool]:
    return lambda row: row.spread.median <= limit


def worst_at_most(limit: float) -> Callable[[Row], bool]:
    """Every repeat, not only the median, within ``limit`` (for hard limits)."""
    return lambda row: row.spread.high <= limit


def ratio_at_least(limit: float) -> Callable[[Row], bool]:
    return lambda row: row.ratio is not None and row.ratio.median >= limit
