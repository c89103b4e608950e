"""Shard leases over the in-memory store: fair shares, takeover of expired leases, handover
above the share, and the keeper's order of operations and local deadline."""

from __future__ import annotations

import asyncio
import random

import pytest

from sender.leases import ShardLeases, fair_share
from sender.shards import ShardKeeper
from tests.unit.sender.fake_leases import FakeConsumers, FakeLeaseStore

pytestmark = pytest.mark.unit

SHARDS = 8
TTL = 5.0


class Clock:
    """Wall milliseconds and monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.ms = 1_700_000_000_000

    def wall(self) -> int:
        return self.ms

    def monotonic(self) -> float:
        return self.ms / 1000

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)


def sender(store: FakeLeaseStore, clock: Clock, name: str, seed: int = 0) -> ShardLeases:
    return ShardLeases(store, sender=name, shards=SHARDS, ttl_seconds=TTL, clock_ms=clock.wall,
                       rng=random.Random(seed))


async def settle(senders: list[ShardLeases], rounds: int = 4) -> None:
    """Rounds of every sender, each giving back its surplus at once (no consumer to drain)."""
    for _ in range(rounds):
        for leases in senders:
            result = await leases.round()
            for shard in result.surplus:
                await leases.released(shard)


class TestFairShare:
    """ceil(shards / live senders): every shard can be held by someone."""

    @pytest.mark.parametrize(("shards", "live", "share"),
                             [(8, 1, 8), (8, 2, 4), (8, 3, 3), (8, 5, 2), (8, 9, 1), (8, 0, 8)])
    def test_share(self, shards: int, live: int, share: int) -> None:
        assert fair_share(shards, live) == share


class TestRounds:
    """What rounds of one or more senders leave in the store."""

    async def test_a_lone_sender_takes_every_shard(self) -> None:
        store, clock = FakeLeaseStore(), Clock()
        alone = sender(store, clock, "a")
        result = await alone.round()
        assert result.acquired == list(range(SHARDS))
        assert set(store.owners(clock.ms).values()) == {"a"}

    async def test_three_senders_split_eight_shards(self) -> None:
        store, clock = FakeLeaseStore(), Clock()
        senders = [sender(store, clock, name, seed) for seed, name in enumerate("abc")]
        await settle(senders[:1])
        await settle(senders)
        owners = store.owners(clock.ms)
        assert sorted(owners) == list(range(SHARDS))
        held = sorted(len(s.held) for s in senders)
        assert held == [2, 3, 3], owners

    async def test_a_sender_above_its_share_gives_back_the_surplus(self) -> None:
        store, clock = FakeLeaseStore(), Clock()
        first, second = sender(store, clock, "a"), sender(store, clock, "b")
        await first.round()
        await second.round()  # live: 2, but nothing free yet
        assert second.held == set()
        result = await first.round()
        assert len(result.surplus) == 4
        assert first.active == set(range(SHARDS)) - set(result.surplus)
        assert first.held == set(range(SHARDS)), "leases are kept until the consumers stop"
        assert (await second.round()).acquired == [], "not free before released"
        for shard in result.surplus:
            await first.released(shard)
        assert (await second.round()).acquired == result.surplus

    async def test_a_dead_senders_expired_leases_are_taken_over(self) -> None:
        store, clock = FakeLeaseStore(), Clock()
        dead, alive = sender(store, clock, "dead"), sender(store, clock, "alive")
        await settle([dead, alive])
        taken = set(dead.held)
        assert len(taken) == 4
        clock.advance(TTL - 0.5)
        await alive.round()
        assert alive.held.isdisjoint(taken), "not before the lease expires"
        clock.advance(1.0)
        result = await alive.round()
        assert set(result.acquired) == taken
        assert alive.held == set(range(SHARDS))

    async def test_a_lease_taken_by_another_is_reported_lost(self) -> None:
        store, clock = FakeLeaseStore(), Clock()
        slow, other = sender(store, clock, "slow"), sender(store, clock, "other")
        await slow.round()
        clock.advance(TTL + 0.1)  # slow missed its renewals
        await other.round()
        result = await slow.round()
        assert result.lost == list(range(SHARDS))
        assert slow.held == set()


class TestKeeper:
    """The keeper stops a consumer before the lease goes, and on its own clock."""

    def keeper(self, store: FakeLeaseStore, clock: Clock, name: str) -> tuple[
            ShardKeeper, FakeConsumers]:
        consumers = FakeConsumers(store.log)
        keeper = ShardKeeper(sender(store, clock, name), consumers, renew_seconds=1.5,
                             ttl_seconds=TTL, monotonic=clock.monotonic)
        return keeper, consumers

    async def test_handover_stops_the_consumer_before_freeing_the_lease(self) -> None:
        store, clock = FakeLeaseStore(), Clock()
        first, consumers = self.keeper(store, clock, "a")
        second, _ = self.keeper(store, clock, "b")
        await first.round_once()
        assert consumers.running == set(range(SHARDS))
        await second.round_once()
        await first.round_once()
        await asyncio.gather(*first._stopping.values())
        handed = sorted(set(range(SHARDS)) - consumers.running)
        assert len(handed) == 4
        for shard in handed:
            assert store.log.index(f"stop {shard}") < store.log.index(f"release {shard}")
        await second.round_once()
        assert sorted(second.consuming) == handed

    async def test_without_the_database_it_stops_before_the_lease_can_expire(self) -> None:
        store, clock = FakeLeaseStore(), Clock()
        keeper, consumers = self.keeper(store, clock, "a")
        await keeper.round_once()
        expiry = min(lease.expires_ms for lease in store.stored.values())
        store.down = True
        while consumers.running:
            clock.advance(0.2)
            await keeper.round_once()
            keeper.check_deadlines()
            await asyncio.sleep(0)
        assert clock.ms < expiry - 1000, "stopped at least a renew interval before expiry"
        assert keeper.consuming == set()

    async def test_no_leases_while_the_broker_is_away(self) -> None:
        store, clock = FakeLeaseStore(), Clock()
        keeper, consumers = self.keeper(store, clock, "a")
        consumers.connected = False
        await keeper.round_once()
        assert store.stored == {} and store.senders == {}

    async def test_close_stops_consumers_then_frees_leases(self) -> None:
        store, clock = FakeLeaseStore(), Clock()
        keeper, consumers = self.keeper(store, clock, "a")
        await keeper.start()
        await keeper.close()
        assert consumers.running == set()
        assert store.owners(clock.ms) == {} and store.senders == {}
        assert store.log.index("stop 0") < store.log.index("release 0")


class TestStoreFailure:
    """A store that fails half-way through a round leaves no shard held without a consumer."""

    async def test_shards_taken_before_a_failure_are_still_reported(self) -> None:
        store, clock = FakeLeaseStore(), Clock()
        leases = sender(store, clock, "a")
        store.acquires_left = 3
        result = await leases.round()
        assert len(result.acquired) == 3
        assert leases.held == set(result.acquired)
