"""BENCHMARKS.md: figures, floors, ratios and targets as tables."""
# ruff: noqa: RUF001 -- the report's typographic signs are what is checked

from __future__ import annotations

import pytest

from bench.figures.pacing import measure
from bench.report import render
from bench.results import Figure, Row, at_least, at_most, worst_at_most

pytestmark = pytest.mark.unit

MACHINE = {"date": "2026-12-01 10:00 UTC", "cpu": "Test CPU", "cores": 2, "memoryGiB": 4.0,
           "kernel": "6", "python": "3.11", "rabbitmq": "3.10", "commit": "abc",
           "loadAverage": "0.1", "libraries": {"aiohttp": "3"}}


def _results(*figures: Figure, quick: bool = False) -> dict[str, object]:
    return {"machine": MACHINE, "quick": quick, "elapsed": 12.0,
            "figures": [f.to_dict() for f in figures]}


class TestRows:
    """A row's ratio pairs repeats in order; targets judge the median or the worst repeat."""

    def test_ratio_per_repeat(self) -> None:
        row = Row("throughput", "msg/s", [100.0, 200.0, 300.0], [200.0, 400.0, 300.0])
        assert row.ratio is not None
        assert (row.ratio.median, row.ratio.low, row.ratio.high) == (0.5, 0.5, 1.0)

    def test_targets(self) -> None:
        assert Row("a", "", [1.0, 2.0, 3.0], check=at_least(2)).met is True
        assert Row("a", "", [1.0, 2.0, 3.0], check=at_most(1.5)).met is False
        assert Row("a", "", [1.0, 2.0, 61.0], check=worst_at_most(60)).met is False
        assert Row("a", "", [], check=at_least(1)).met is None


class TestRender:
    """The report names the machine, the mode, every row and whether each target is met."""

    def test_a_figure_with_a_floor_and_a_target(self) -> None:
        figure = Figure("accept", "1. Accept", "setup text", rows=[
            Row("throughput", "msg/s", [900.0, 1100.0, 1200.0], [2000.0, 2000.0, 2000.0],
                "≥ 1,000/s", at_least(1000)),
        ], notes=["a note"])
        text = render(_results(figure), "## Profile\n\nfindings")
        assert "Test CPU, 2 cores" in text
        assert ("| throughput | 1,100 msg/s | 900–1,200 | 3 | 2,000 msg/s | "
                "0.55× (0.45–0.60)") in text
        assert "✅ met" in text
        assert "- a note" in text
        assert text.rstrip().endswith("findings")

    def test_quick_runs_are_labelled_and_errors_shown(self) -> None:
        figure = Figure("send", "2. Send", "setup", error="RuntimeError: no sender")
        text = render(_results(figure, quick=True), "")
        assert "**quick run**" in text
        assert "**Not measured in this run:** RuntimeError: no sender" in text


class TestPacingMeasure:
    """Per account: the worst 60 s window, and sends in the span from its first send."""

    def test_worst_window_and_utilisation(self) -> None:
        sends = [{"phoneNumberId": "p1", "at": float(t), "type": "text"} for t in range(120)]
        sends += [{"phoneNumberId": "p2", "at": 0.0, "type": "text"}] * 61
        sends += [{"phoneNumberId": "other", "at": 0.0, "type": "text"}] * 500
        worst, used, seen, latest_first = measure(sends, {"p1": "a1", "p2": "a2"}, span=120)
        assert worst == 61
        assert used == pytest.approx((120 + 61) / 240)
        assert seen == 181
        assert latest_first == 0.0

    def test_an_account_without_sends_is_not_done(self) -> None:
        *_, latest_first = measure([], {"p1": "a1"}, span=10)
        assert latest_first == float("inf")
