"""Per-account pacing that is exact in every 60-second window, not just on average.

A token bucket of capacity ``rate`` lets ``2 * rate`` through in one window (a full bucket, then a
refill). Instead :class:`SlidingWindow` gates on a log: a send may start only while

    (sends in flight) + (sends completed in the last 60 s) < rate

and a send's time is its *completion* (the Cloud API has answered), which is never earlier than
the receiver's receipt. So the receiver never sees more than ``rate`` in any 60 s: see
docs/SENDER.md for the argument. Every attempt counts, failures too.

:class:`Planner` gives each message that cannot go now a distinct future start slot (at most
``rate`` per window), so a backlog is deferred through the delay queues and comes back spread out,
instead of every waiting message retrying at once.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from shared.pacing import SAFETY_SECONDS, WINDOW_SECONDS, Planner

__all__ = ["SAFETY_SECONDS", "WINDOW_SECONDS", "AccountPace", "Clock", "Pacer", "Planner",
           "SlidingWindow"]

Clock = Callable[[], float]


class SlidingWindow:
    """The exact gate: in flight plus completed within the window stays below ``rate``."""

    def __init__(self, rate: int, *, window: float = WINDOW_SECONDS + SAFETY_SECONDS) -> None:
        self.rate = rate
        self.window = window
        self.in_flight = 0
        self._done: list[float] = []

    def _expire(self, now: float) -> None:
        cut = bisect.bisect_right(self._done, now - self.window)
        if cut:
            del self._done[:cut]

    def used(self, now: float) -> int:
        """Sends that count against the window at ``now``."""
        self._expire(now)
        return self.in_flight + len(self._done)

    def wait(self, now: float) -> float | None:
        """Seconds until a send may start: 0 now, None if it depends on sends still in flight."""
        used = self.used(now)
        if used < self.rate:
            return 0.0
        must_expire = used - self.rate  # index of the completion whose expiry frees a place
        if must_expire < len(self._done):
            return max(0.0, self._done[must_expire] + self.window - now)
        return None

    def try_acquire(self, now: float) -> bool:
        """Reserve a place for a send starting now, if the window allows it."""
        if self.wait(now) != 0.0:
            return False
        self.in_flight += 1
        return True

    def complete(self, at: float) -> None:
        """A reserved send finished (answered, failed or timed out) at ``at``."""
        self.in_flight = max(0, self.in_flight - 1)
        bisect.insort(self._done, at)

    def cancel(self) -> None:
        """A reserved send never reached the Cloud API (not claimable): free its place."""
        self.in_flight = max(0, self.in_flight - 1)

    def seed(self, times: Iterable[float]) -> None:
        """Count sends another process made (failover): their completion times."""
        for at in times:
            bisect.insort(self._done, at)


@dataclass
class AccountPace:
    """One account's gate and plan, plus per-recipient not-before times (pair limit 131056)."""

    window: SlidingWindow
    planner: Planner
    not_before: dict[str, float] = field(default_factory=dict)

    def set_rate(self, rate: int) -> None:
        self.window.rate = rate
        self.planner.resize(rate)

    def recipient_wait(self, to: str, now: float) -> float:
        until = self.not_before.get(to)
        if until is None:
            return 0.0
        if until <= now:
            del self.not_before[to]
            return 0.0
        return until - now

    def back_off_recipient(self, to: str, until: float) -> None:
        self.not_before[to] = max(until, self.not_before.get(to, 0.0))
        if len(self.not_before) > 10_000:  # bounded: forget the oldest
            for key in sorted(self.not_before, key=self.not_before.__getitem__)[:1000]:
                del self.not_before[key]


class Pacer:
    """Every account this process owns. Accounts are created on first use and seeded then."""

    def __init__(self, *, clock: Clock, enabled: bool = True) -> None:
        self.clock = clock
        self.enabled = enabled
        self._accounts: dict[str, AccountPace] = {}

    def get(self, account_id: str) -> AccountPace | None:
        return self._accounts.get(account_id)

    def create(self, account_id: str, rate: int, seeded: Iterable[float]) -> AccountPace:
        """The pace of a newly owned account, seeded with its sends in the last window."""
        times = sorted(seeded)
        pace = AccountPace(SlidingWindow(rate), Planner(rate))
        pace.window.seed(times)
        pace.planner.seed(times)
        self._accounts[account_id] = pace
        return pace

    def forget(self, account_id: str) -> None:
        self._accounts.pop(account_id, None)

    def __len__(self) -> int:
        return len(self._accounts)
