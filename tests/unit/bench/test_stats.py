"""The arithmetic behind every benchmark figure."""

from __future__ import annotations

import math

import pytest

from bench.stats import Spread, allowed_in_span, max_in_window, percentile, rate

pytestmark = pytest.mark.unit


class TestPercentile:
    """Nearest-rank percentiles: always a value that was observed."""

    def test_median_and_tail_of_one_to_hundred(self) -> None:
        values = list(range(100, 0, -1))
        assert percentile(values, 50) == 50
        assert percentile(values, 99) == 99
        assert percentile(values, 100) == 100

    def test_small_samples_take_the_top_value_for_the_tail(self) -> None:
        assert percentile([3.0, 1.0, 2.0], 99) == 3.0
        assert percentile([7.0], 50) == 7.0

    def test_empty_is_nan(self) -> None:
        assert math.isnan(percentile([], 50))


class TestSpread:
    """Median and range of the repeats; NaN repeats (failed ones) are left out."""

    def test_median_min_max(self) -> None:
        spread = Spread.of([5.0, 1.0, 3.0])
        assert (spread.median, spread.low, spread.high, spread.repeats) == (3.0, 1.0, 5.0, 3)

    def test_nan_is_left_out(self) -> None:
        assert Spread.of([2.0, math.nan, 4.0]).repeats == 2

    def test_nothing_measured(self) -> None:
        assert Spread.of([]).repeats == 0


class TestRateWindows:
    """The pacing check: the most events in any half-open 60 s window."""

    def test_one_a_second_fills_a_window_with_sixty(self) -> None:
        assert max_in_window([float(t) for t in range(120)]) == 60

    def test_a_burst_and_a_boundary(self) -> None:
        times = [0.0] * 60 + [60.0]  # the 61st is exactly one window later: allowed
        assert max_in_window(times) == 60
        assert max_in_window([*times, 59.999]) == 61

    def test_unsorted_input(self) -> None:
        assert max_in_window([50.0, 10.0, 30.0, 200.0], window=60) == 3

    def test_allowed_counts_a_burst_per_started_window(self) -> None:
        assert allowed_in_span(60, 120) == 120
        assert allowed_in_span(60, 121) == 180
        assert allowed_in_span(60, 8) == 60

    def test_rate_of_no_time_is_nan(self) -> None:
        assert rate(10, 2.0) == 5.0
        assert math.isnan(rate(10, 0.0))
