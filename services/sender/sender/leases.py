"""Shard leases: which sender consumes which send shard.

Every sender heartbeats itself, counts the live senders, and holds about its fair share
(``ceil(shards / live senders)``) of shard leases. A lease is a document keyed by the shard
with an owner and a numeric expiry (epoch milliseconds: no dates in filters); it is taken only
when free or expired, with one conditional write, and renewed every
``RELAY_SHARD_LEASE_RENEW_SECONDS``. A sender above its share gives shards back (the caller
stops the shard's consumer first), so a sender that starts later gets some. The broker's
single-active-consumer stays on behind this: two consumers of a shard never both take
deliveries. docs/SENDER.md argues the design.

This module is the protocol over a :class:`LeaseStore` port; ``sender.lease_store`` is the
MongoDB adapter.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Lease:
    """A shard's lease as stored: ``owner`` None (or an expiry in the past) means free."""

    shard: int
    owner: str | None
    expires_ms: int


class LeaseStore(Protocol):
    """Single-document atomic operations on the sender heartbeats and the shard leases."""

    async def heartbeat(self, sender: str, expires_ms: int) -> None:
        """Record ``sender`` as live until ``expires_ms``."""

    async def live_senders(self, now_ms: int) -> int:
        """How many senders have a heartbeat that has not expired at ``now_ms``."""

    async def leases(self) -> list[Lease]:
        """Every stored shard lease (shards never leased have none)."""

    async def acquire(self, shard: int, sender: str, *, now_ms: int, expires_ms: int) -> bool:
        """Take the shard's lease if it is free or expired at ``now_ms`` (atomically)."""

    async def renew(self, shards: list[int], sender: str, *, now_ms: int,
                    expires_ms: int) -> None:
        """Extend those of ``shards`` that ``sender`` holds and that are live at ``now_ms``."""

    async def release(self, shard: int, sender: str) -> None:
        """Free the shard's lease if ``sender`` still holds it."""

    async def leave(self, sender: str) -> None:
        """Forget ``sender``'s heartbeat (a clean shutdown)."""


def fair_share(shards: int, live: int) -> int:
    """Most shards one of ``live`` senders should hold (every shard held by someone)."""
    return math.ceil(shards / max(1, live))


def wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Round:
    """What one round decided; the caller acts on it."""

    expires_ms: int
    share: int
    acquired: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    surplus: list[int] = field(default_factory=list)


class ShardLeases:
    """One sender's leases: :meth:`round` heartbeats, renews, gives back and takes.

    ``held`` is every shard whose lease this sender holds; ``releasing`` those of them being
    given back (their consumer is stopping; the lease is renewed until :meth:`released`).
    """

    def __init__(self, store: LeaseStore, *, sender: str, shards: int, ttl_seconds: float,
                 clock_ms: Callable[[], int] = wall_ms, rng: random.Random | None = None) -> None:
        self.store = store
        self.sender = sender
        self.shards = shards
        self.ttl_ms = int(ttl_seconds * 1000)
        self._clock_ms = clock_ms
        self._rng = rng or random.Random()
        self.held: set[int] = set()
        self.releasing: set[int] = set()

    @property
    def active(self) -> set[int]:
        """Held shards not being given back: the ones to consume."""
        return self.held - self.releasing

    async def round(self) -> Round:
        """Heartbeat, renew what is held, then give back above the share or take up to it."""
        now = self._clock_ms()
        expires = now + self.ttl_ms
        await self.store.heartbeat(self.sender, expires)
        if self.held:
            await self.store.renew(sorted(self.held), self.sender, now_ms=now, expires_ms=expires)
        stored = {lease.shard: lease for lease in await self.store.leases()}
        share = fair_share(self.shards, await self.store.live_senders(now))
        result = Round(expires_ms=expires, share=share)
        result.lost = sorted(s for s in self.held if not self._mine(stored.get(s), now))
        self.forget(result.lost)
        result.surplus = self._surplus(share)
        self.releasing.update(result.surplus)
        if len(self.held) < share:
            result.acquired = await self._take(share - len(self.held), stored, now, expires)
        return result

    def _mine(self, lease: Lease | None, now: int) -> bool:
        return lease is not None and lease.owner == self.sender and lease.expires_ms > now

    def _surplus(self, share: int) -> list[int]:
        extra = len(self.held) - len(self.releasing) - share
        if extra <= 0:
            return []
        return sorted(self._rng.sample(sorted(self.active), extra))

    async def _take(self, wanted: int, stored: dict[int, Lease], now: int,
                    expires: int) -> list[int]:
        free = [s for s in range(self.shards) if s not in self.held
                and (s not in stored or stored[s].owner is None or stored[s].expires_ms <= now)]
        self._rng.shuffle(free)
        taken: list[int] = []
        for shard in free:
            if len(taken) == wanted:
                break
            try:
                won = await self.store.acquire(shard, self.sender, now_ms=now,
                                               expires_ms=expires)
            except Exception:  # the store went away mid-round: keep what was taken, retry later
                break
            if won:
                self.held.add(shard)
                taken.append(shard)
        return sorted(taken)

    def forget(self, shards: list[int]) -> None:
        """Stop counting ``shards`` as held (lost, or past the local deadline)."""
        self.held.difference_update(shards)
        self.releasing.difference_update(shards)

    async def released(self, shard: int) -> None:
        """The shard's consumer has stopped: free its lease for another sender."""
        self.forget([shard])
        await self.store.release(shard, self.sender)

    async def leave(self) -> None:
        """Free every lease still held and the heartbeat (the consumers are stopped)."""
        for shard in sorted(self.held):
            await self.released(shard)
        await self.store.leave(self.sender)
