"""The sliding window and the planner, on a fake clock."""

from __future__ import annotations

import bisect
import random

import pytest

from sender.pacing import WINDOW_SECONDS, Pacer, Planner, SlidingWindow

pytestmark = pytest.mark.unit


def max_in_any_window(times: list[float], window: float = WINDOW_SECONDS) -> int:
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered)), default=0
    )


def simulate(rate: int, messages: int, *, latency: float, concurrency: int, seed: int = 1,
             seeded: list[float] | None = None) -> tuple[list[float], list[float]]:
    """Drive a window with a discrete clock; return (receipt times, completion times)."""
    rng = random.Random(seed)
    window = SlidingWindow(rate)
    window.seed(seeded or [])
    now, waiting, in_flight = 0.0, messages, []
    receipts, completions = [], []
    while waiting or in_flight:
        for done in [f for f in in_flight if f[0] <= now]:
            in_flight.remove(done)
            window.complete(done[0])
            completions.append(done[0])
        while waiting and len(in_flight) < concurrency and window.try_acquire(now):
            waiting -= 1
            took = latency * rng.uniform(0.2, 1.0)
            receipts.append(now + took * rng.uniform(0, 1))  # somewhere inside the call
            in_flight.append((now + took, None))
        now += 0.01
    return receipts, completions


class TestSlidingWindow:
    """No 60-second window ever holds more than ``rate`` sends at the receiver."""

    @pytest.mark.parametrize(("rate", "latency", "concurrency"),
                             [(20, 0.05, 10), (30, 0.5, 10), (5, 2.0, 3), (60, 0.01, 100)])
    def test_never_exceeds_the_rate_in_any_window(self, rate, latency, concurrency):
        receipts, _ = simulate(rate, rate * 4 + 3, latency=latency, concurrency=concurrency)
        assert max_in_any_window(receipts) <= rate

    def test_a_token_bucket_would_have_allowed_twice_the_rate(self):
        """The reason for the log: the naive refill shape puts 2 x rate in one window."""
        burst = [59.0] * 20 + [60.5] * 20  # full bucket at the end of minute 1, refill after
        assert max_in_any_window(burst) == 40

    def test_uses_the_whole_rate_every_window(self):
        """Utilisation: the first ``rate`` go at once, the next ``rate`` about 60 s later."""
        _, completions = simulate(30, 60, latency=0.05, concurrency=10)
        ordered = sorted(completions)
        assert ordered[29] < 1.0
        assert 60.0 < ordered[30] < 61.5
        assert ordered[59] < 62.0

    def test_failures_count_like_successes(self):
        window = SlidingWindow(2)
        assert window.try_acquire(0.0)
        window.complete(0.1)  # an error answer still reached the receiver
        assert window.try_acquire(0.2)
        window.complete(0.3)
        assert not window.try_acquire(30.0)
        assert window.wait(30.0) == pytest.approx(0.1 + window.window - 30.0)

    def test_in_flight_sends_block_until_they_complete(self):
        window = SlidingWindow(1)
        assert window.try_acquire(0.0)
        assert window.wait(100.0) is None  # unknown until the answer
        window.complete(100.0)
        assert window.wait(100.0) == pytest.approx(window.window)

    def test_a_cancelled_reservation_frees_its_place(self):
        window = SlidingWindow(1)
        assert window.try_acquire(0.0)
        window.cancel()
        assert window.try_acquire(0.0)


class TestSeeding:
    """A new owner counts the previous owner's recent sends, so failover keeps the limit."""

    def test_seeded_sends_hold_back_new_ones(self):
        receipts, _ = simulate(10, 20, latency=0.05, concurrency=10, seeded=[-5.0] * 10)
        assert min(receipts) >= 55.0
        assert max_in_any_window([-5.0] * 10 + receipts) <= 10

    def test_pacer_seeds_both_window_and_plan(self):
        pacer = Pacer(clock=lambda: 0.0)
        pace = pacer.create("acc", 3, [-10.0, -9.0, -8.0])
        assert pace.window.wait(0.0) == pytest.approx(-10.0 + pace.window.window)
        assert pace.planner.plan(0.0) == pytest.approx(-10.0 + pace.planner.window)


class TestPlanner:
    """A backlog gets distinct slots, ``rate`` per window, in order."""

    def test_slots_spread_a_backlog_over_windows(self):
        planner = Planner(20)
        slots = [planner.plan(0.0) for _ in range(100)]
        assert slots == sorted(slots)
        assert max_in_any_window(slots, planner.window) <= 20
        assert slots[19] == 0.0 and slots[20] == pytest.approx(planner.window)
        assert slots[99] == pytest.approx(4 * planner.window)

    def test_memory_is_bounded_by_the_rate(self):
        planner = Planner(20)
        for _ in range(100_000):
            planner.plan(0.0)
        assert len(planner._slots) == 20

    def test_a_released_slot_is_given_again(self):
        planner = Planner(2)
        first = planner.plan(0.0)
        planner.plan(0.0)
        planner.release(first)
        assert planner.plan(1.0) == 1.0

    def test_a_rate_change_resizes_the_plan(self):
        planner = Planner(2)
        planner.plan(0.0)
        planner.plan(0.0)
        planner.resize(5)
        assert planner.plan(0.0) == 0.0


class TestRecipientBackoff:
    """131056 backs off one recipient; others of the account go on."""

    def test_only_that_recipient_waits(self):
        pace = Pacer(clock=lambda: 0.0).create("acc", 20, [])
        pace.back_off_recipient("+1555", 10.0)
        assert pace.recipient_wait("+1555", 4.0) == pytest.approx(6.0)
        assert pace.recipient_wait("+1666", 4.0) == 0.0
        assert pace.recipient_wait("+1555", 11.0) == 0.0
