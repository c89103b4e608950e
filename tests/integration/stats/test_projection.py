"""The projection against the embedded database: exact after reorderings, duplicates, crashes;
``rebuild`` gives the same numbers from the event log."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from shared.db import Database
from stats.batch import BatchProjector, RebuildInProgress
from stats.counters import Delta, Snapshot
from stats.projection import Claim, Outcome, Projector
from stats.rebuild import rebuild
from stats.store import ACCOUNTS, MESSAGES, MongoProjectionStore
from tests.conftest import eventually
from tests.stats_support import (
    History,
    assert_counters_match,
    make_histories,
    shuffled_with_duplicates,
)

pytestmark = pytest.mark.integration


class Crash(Exception):
    """The process died right after the named step reached the database."""


class CrashingStore(MongoProjectionStore):
    """The real adapter, dying after the ``nth`` write of one step."""

    def __init__(self, db: Database, *, step: str, nth: int) -> None:
        super().__init__(db)
        self._step, self._left = step, nth

    def _after(self, step: str) -> None:
        if step == self._step:
            self._left -= 1
            if self._left == 0:
                raise Crash(step)

    async def create(self, doc: dict[str, Any]) -> bool:
        done = await super().create(doc)
        if done:
            self._after("A")
        return done

    async def claim(self, message_id: str, **kwargs: Any) -> bool:
        done = await super().claim(message_id, **kwargs)
        if done:
            self._after("A")
        return done

    async def increment(self, account_id: str, tokens: list[str], inc: Delta) -> bool:
        done = await super().increment(account_id, tokens, inc)
        if done:
            self._after("B")
        return done

    async def settle(self, message_id: str, version: int) -> None:
        await super().settle(message_id, version)
        self._after("C")

    async def claim_many(self, claims: list[Claim]) -> set[str]:
        done = await super().claim_many(claims)
        if done:
            self._after("A")
        return done

    async def settle_many(self, settled: list[tuple[str, int]]) -> None:
        await super().settle_many(settled)
        if settled:
            self._after("C")


async def seed(db: Database, histories: list[History]) -> None:
    """The messages (final state) and the complete event log, as the services leave them."""
    await db.messages.insert_many([h.doc for h in histories])
    await db.events.insert_many([
        {"_id": e.event_id, **e.model_dump(by_alias=True, mode="python")}
        for h in histories for e in h.events
    ])


async def accounts_of(db: Database) -> dict[str, dict[str, Any]]:
    return {doc["_id"]: doc async for doc in db[ACCOUNTS].find({})}


async def messages_of(db: Database) -> list[dict[str, Any]]:
    return [doc async for doc in db.messages.find({})]


async def apply_concurrently(projector: Projector, stream: list[Any], width: int = 32) -> None:
    """Like the consumer: a window of deliveries in flight at once."""
    for start in range(0, len(stream), width):
        await asyncio.gather(*(projector.apply(e) for e in stream[start:start + width]))


class TestExactOverTheRealDatabase:
    """Random orders with duplicates, applied concurrently, equal a count over ``messages``."""

    @pytest.mark.parametrize("seed_value", [11, 12])
    async def test_random_orders_with_duplicates(self, db: Database, seed_value: int) -> None:
        rng = random.Random(seed_value)
        histories = make_histories(rng, messages=80)
        await seed(db, histories)
        projector = Projector(MongoProjectionStore(db))
        await apply_concurrently(projector, shuffled_with_duplicates(rng, histories))
        assert_counters_match(await accounts_of(db), await messages_of(db), histories)
        assert await db[MESSAGES].count_documents({"pending": {"$exists": True}}) == 0

    async def test_rebuild_equals_the_live_projection(self, db: Database) -> None:
        rng = random.Random(21)
        histories = make_histories(rng, messages=60)
        await seed(db, histories)
        await apply_concurrently(
            Projector(MongoProjectionStore(db)), shuffled_with_duplicates(rng, histories)
        )
        live = await accounts_of(db)
        seen: list[int] = []
        summary = await rebuild(db, progress=seen.append, grace=0)
        rebuilt = await accounts_of(db)
        assert summary["changedAccounts"] == 0
        assert summary["events"] == sum(len(h.events) for h in histories)
        assert summary["messages"] == len(histories) and seen[-1] == summary["events"]
        for account_id, doc in live.items():
            for field in ("total", "byStatus", "byDirection", "byType", "outboundByStatus"):
                assert rebuilt[account_id][field] == doc[field]
        assert_counters_match(rebuilt, await messages_of(db), histories)

    async def test_rebuild_repairs_wrong_counters_and_live_projection_continues(
        self, db: Database
    ) -> None:
        rng = random.Random(22)
        histories = make_histories(rng, messages=30)
        await seed(db, histories)
        await apply_concurrently(Projector(MongoProjectionStore(db)), [
            e for h in histories for e in h.events
        ])
        some = histories[0].doc["whatsappAccountId"]
        await db[ACCOUNTS].update_one({"_id": some}, {"$inc": {"total": 5, "byType.Text": 3}})
        summary = await rebuild(db, grace=0)
        assert summary["changedAccounts"] == 1
        assert_counters_match(await accounts_of(db), await messages_of(db), histories)
        replay = Projector(MongoProjectionStore(db))  # redelivered events are duplicates now
        await apply_concurrently(replay, [e for h in histories for e in h.events])
        assert_counters_match(await accounts_of(db), await messages_of(db), histories)


class TestCrashAfterEachStep:
    """A crash after step A, B or C, then a restart, still counts every event once."""

    @pytest.mark.parametrize("step", ["A", "B", "C"])
    @pytest.mark.parametrize("nth", [1, 17])
    async def test_crash_then_recover(self, db: Database, step: str, nth: int) -> None:
        rng = random.Random(nth * 7)
        histories = make_histories(rng, messages=30)
        await seed(db, histories)
        stream = shuffled_with_duplicates(rng, histories)
        dying = Projector(CrashingStore(db, step=step, nth=nth))
        crashed_at = None
        for index, event in enumerate(stream):
            try:
                await dying.apply(event)
            except Crash:
                crashed_at = index
                break
        assert crashed_at is not None
        restarted = Projector(MongoProjectionStore(db))
        assert await restarted.recover() >= 1
        for event in stream[crashed_at:]:
            await restarted.apply(event)
        assert_counters_match(await accounts_of(db), await messages_of(db), histories)

    async def test_claim_refuses_a_stale_read(self, db: Database) -> None:
        store = MongoProjectionStore(db)
        [history] = make_histories(random.Random(2), messages=1)
        first = history.events[0]
        await Projector(store).apply(first)
        from shared.models import MessageStatus

        claimed = await store.claim(
            first.message_id or "", seen_version=first.version + 5, version=99,
            snapshot=Snapshot(99, MessageStatus.SENT), pending={"version": 99, "inc": []},
        )
        assert not claimed


class TestBatchedOverTheRealDatabase:
    """The batched path (what the service runs) is exact too, through crashes after A, B, C."""

    async def test_windows_with_duplicates(self, db: Database) -> None:
        rng = random.Random(31)
        histories = make_histories(rng, messages=120)
        await seed(db, histories)
        stream = shuffled_with_duplicates(rng, histories, duplicates=0.5)
        projector = BatchProjector(MongoProjectionStore(db))
        for start in range(0, len(stream), 50):
            await projector.apply_batch(stream[start:start + 50])
        assert_counters_match(await accounts_of(db), await messages_of(db), histories)

    @pytest.mark.parametrize("step", ["A", "B", "C"])
    async def test_crash_inside_a_window_then_recover(self, db: Database, step: str) -> None:
        rng = random.Random(41)
        histories = make_histories(rng, messages=40)
        await seed(db, histories)
        stream = shuffled_with_duplicates(rng, histories)
        windows = [stream[i:i + 25] for i in range(0, len(stream), 25)]
        dying = BatchProjector(CrashingStore(db, step=step, nth=2))
        crashed_at = None
        for index, window in enumerate(windows):
            try:
                await dying.apply_batch(window)
            except Crash:
                crashed_at = index
                break
        assert crashed_at is not None
        restarted = BatchProjector(MongoProjectionStore(db))
        for window in windows[crashed_at:]:
            await restarted.apply_batch(window)
        assert_counters_match(await accounts_of(db), await messages_of(db), histories)


class TestRebuildWhileLive:
    """A rebuild during live projection pauses it; together they still count each event once."""

    async def test_rebuild_in_the_middle_of_a_live_stream(self, db: Database) -> None:
        rng = random.Random(51)
        histories = make_histories(rng, messages=150)
        await seed(db, histories)
        stream = shuffled_with_duplicates(rng, histories, duplicates=0.4)
        windows = [stream[i:i + 20] for i in range(0, len(stream), 20)]
        live = BatchProjector(MongoProjectionStore(db))
        live.pause_poll_seconds = 0.05
        applied_windows = 0

        async def run_live() -> None:
            nonlocal applied_windows
            for window in windows:
                while True:
                    try:
                        await live.apply_batch(window)
                        break
                    except RebuildInProgress:
                        continue  # the broker would redeliver the window
                applied_windows += 1

        task = asyncio.create_task(run_live())
        await eventually(lambda: asyncio.sleep(0, result=applied_windows >= 3), timeout=30)
        summary = await rebuild(db, grace=0.5)
        assert summary["messages"] == len(histories)
        await asyncio.wait_for(task, 120)
        assert_counters_match(await accounts_of(db), await messages_of(db), histories)
        assert await db["stats_meta"].count_documents({}) == 0, "the lease is released"

    async def test_live_windows_wait_while_the_lease_is_held(self, db: Database) -> None:
        from datetime import UTC, datetime, timedelta

        [history] = make_histories(random.Random(52), messages=1)
        await db["stats_meta"].insert_one(
            {"_id": "rebuild", "until": datetime.now(UTC) + timedelta(seconds=60)})
        live = BatchProjector(MongoProjectionStore(db))
        live.pause_poll_seconds = 0.05
        task = asyncio.create_task(live.apply_batch(history.events))
        await asyncio.sleep(0.3)  # not synchronisation: proving that nothing happens meanwhile
        assert not task.done() and await db[ACCOUNTS].count_documents({}) == 0
        await db["stats_meta"].delete_one({"_id": "rebuild"})
        assert set(await asyncio.wait_for(task, 30)) == {Outcome.APPLIED}
