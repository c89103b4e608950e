"""The MongoDB lease store on the real (embedded) database, and two in-process senders
splitting the shards of a real broker between them."""

from __future__ import annotations

import asyncio

import pytest

from sender.lease_store import FORGET_AFTER_MS, MongoLeaseStore
from sender.leases import Lease
from shared.db import Database
from tests.conftest import eventually

pytestmark = pytest.mark.integration

NOW = 1_700_000_000_000
TTL = 5_000


class TestMongoLeaseStore:
    """Each write is conditional on the lease document, keyed by the shard's queue."""

    async def test_one_of_many_racing_takers_wins_a_new_shard(self, db: Database) -> None:
        store = MongoLeaseStore(db)
        won = await asyncio.gather(*(
            store.acquire(3, f"s{n}", now_ms=NOW, expires_ms=NOW + TTL) for n in range(8)))
        assert sum(won) == 1
        [lease] = await store.leases()
        assert lease == Lease(3, f"s{won.index(True)}", NOW + TTL)

    async def test_one_of_many_racing_takers_wins_an_expired_lease(self, db: Database) -> None:
        store = MongoLeaseStore(db)
        assert await store.acquire(1, "dead", now_ms=NOW, expires_ms=NOW + TTL)
        later = NOW + TTL + 1
        won = await asyncio.gather(*(
            store.acquire(1, f"s{n}", now_ms=later, expires_ms=later + TTL) for n in range(8)))
        assert sum(won) == 1

    async def test_a_live_lease_is_not_taken(self, db: Database) -> None:
        store = MongoLeaseStore(db)
        assert await store.acquire(0, "a", now_ms=NOW, expires_ms=NOW + TTL)
        assert not await store.acquire(0, "b", now_ms=NOW + TTL - 1, expires_ms=NOW + 2 * TTL)

    async def test_renew_extends_only_the_owners_live_leases(self, db: Database) -> None:
        store = MongoLeaseStore(db)
        for shard, owner in [(0, "a"), (1, "b"), (2, "a")]:
            await store.acquire(shard, owner, now_ms=NOW, expires_ms=NOW + TTL)
        await store.renew([0, 1], "a", now_ms=NOW + 1, expires_ms=NOW + 9_000)
        expiries = {lease.shard: lease.expires_ms for lease in await store.leases()}
        assert expiries == {0: NOW + 9_000, 1: NOW + TTL, 2: NOW + TTL}
        await store.renew([2], "a", now_ms=NOW + TTL, expires_ms=NOW + 20_000)
        assert {lease.shard: lease.expires_ms for lease in await store.leases()}[2] == NOW + TTL

    async def test_release_frees_only_the_owners_lease(self, db: Database) -> None:
        store = MongoLeaseStore(db)
        await store.acquire(4, "a", now_ms=NOW, expires_ms=NOW + TTL)
        await store.release(4, "b")
        assert (await store.leases())[0].owner == "a"
        await store.release(4, "a")
        assert await store.acquire(4, "b", now_ms=NOW + 1, expires_ms=NOW + TTL)

    async def test_live_senders_counts_heartbeats_and_forgets_long_gone_ones(
            self, db: Database) -> None:
        store = MongoLeaseStore(db)
        await store.heartbeat("live", NOW + TTL)
        await store.heartbeat("late", NOW - 1)
        await store.heartbeat("gone", NOW - FORGET_AFTER_MS - 1)
        assert await store.live_senders(NOW) == 1
        assert sorted([d["_id"] async for d in db.senders.find({})]) == ["late", "live"]
        await store.leave("live")
        assert await store.live_senders(NOW) == 0


class TestTwoSenders:
    """Two sender services on one broker and database hold disjoint halves of the shards."""

    async def test_shards_spread_and_come_back_when_one_stops(self, senders, settings) -> None:
        first = await senders.start()
        assert first.keeper is not None and first.keeper.consuming == set(
            range(settings.send_shards))
        second = await senders.start()
        assert second.keeper is not None

        async def split() -> bool:
            return (len(first.keeper.consuming) == len(second.keeper.consuming) ==
                    settings.send_shards // 2)
        await eventually(split, timeout=15, message="two halves")
        assert first.keeper.consuming.isdisjoint(second.keeper.consuming)
        await senders.stop(first)

        async def all_back() -> bool:
            return second.keeper.consuming == set(range(settings.send_shards))
        await eventually(all_back, timeout=10, message="the stopped sender's shards taken")
