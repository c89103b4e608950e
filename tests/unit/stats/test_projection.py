"""The A-D projection protocol over an in-memory store: idempotent, order-free, crash-safe."""

from __future__ import annotations

import random

import pytest

from stats.batch import BatchProjector
from stats.projection import Outcome, Projector
from tests.stats_support import assert_counters_match, make_histories, shuffled_with_duplicates
from tests.unit.stats.fakes import Crash, FakeProjectionStore

pytestmark = pytest.mark.unit


async def project(store: FakeProjectionStore, stream) -> list[Outcome]:
    projector = Projector(store)
    return [await projector.apply(event) for event in stream]


class TestIdempotentAndOrderFree:
    """Any order with duplicates ends with counters equal to a count over the messages."""

    @pytest.mark.parametrize("seed", range(5))
    async def test_random_order_with_duplicates(self, seed: int) -> None:
        rng = random.Random(seed)
        histories = make_histories(rng, messages=60)
        store = FakeProjectionStore()
        outcomes = await project(store, shuffled_with_duplicates(rng, histories))
        assert outcomes.count(Outcome.APPLIED) == sum(len(h.events) for h in histories)
        assert_counters_match(store.accounts, [h.doc for h in histories], histories)

    async def test_newer_version_first_ends_the_same(self) -> None:
        [history] = make_histories(random.Random(1), messages=1)
        forward, backward = FakeProjectionStore(), FakeProjectionStore()
        await project(forward, history.events)
        await project(backward, list(reversed(history.events)))
        assert forward.accounts == backward.accounts


class TestCrashRecovery:
    """A crash right after any step, then a restart, counts every event exactly once."""

    @pytest.mark.parametrize("step", ["create", "claim", "increment", "settle", "release"])
    @pytest.mark.parametrize("nth", [1, 7, 23])
    @pytest.mark.parametrize("redeliver", [True, False])
    async def test_crash_after_step(self, step: str, nth: int, redeliver: bool) -> None:
        rng = random.Random(nth)
        histories = make_histories(rng, messages=25)
        stream = shuffled_with_duplicates(rng, histories)
        store = FakeProjectionStore()
        store.crash_after = {step: nth}
        projector = Projector(store)
        crashed_at = None
        for index, event in enumerate(stream):
            try:
                await projector.apply(event)
            except Crash:
                crashed_at = index
                break
        assert crashed_at is not None, "the crash was injected"
        restarted = Projector(store)
        if not redeliver:  # the broker might hand the event to nobody before the scan runs
            await restarted.recover()
            assert not any("pending" in d for d in store.messages.values())
            assert not any(d["inflight"] for d in store.accounts.values())
        for event in stream[crashed_at:]:  # the unacked event comes back, then the rest
            await restarted.apply(event)
        assert_counters_match(store.accounts, [h.doc for h in histories], histories)

    async def test_first_event_after_restart_runs_recovery_first(self) -> None:
        histories = make_histories(random.Random(3), messages=5)
        store = FakeProjectionStore()
        store.crash_after = {"claim": 1}
        events = [e for h in histories for e in h.events]
        with pytest.raises(Crash):
            for event in events:
                await Projector(store).apply(event)
        [pending] = [d for d in store.messages.values() if "pending" in d]
        other = next(e for e in events if e.message_id != pending["_id"])
        await Projector(store).apply(other)
        assert "pending" not in store.messages[pending["_id"]], "recovered before applying"

    async def test_a_stale_token_blocks_no_other_event(self) -> None:
        [history] = [h for h in make_histories(random.Random(5), messages=40)
                     if len(h.events) >= 3][:1]
        store = FakeProjectionStore()
        store.crash_after = {"settle": 1}
        with pytest.raises(Crash):
            await Projector(store).apply(history.events[0])
        account = history.doc["whatsappAccountId"]
        assert store.accounts[account]["inflight"], "the crash left the token"
        projector = Projector(store)

        async def no_recovery() -> int:
            return 0

        projector.recover = no_recovery  # type: ignore[method-assign]
        for event in history.events[1:]:
            assert await projector.apply(event) == Outcome.APPLIED
        assert store.accounts[account]["inflight"] == [history.events[0].event_id]
        await Projector(store).recover()
        assert_counters_match(store.accounts, [history.doc], [history])


def windows(stream: list, width: int) -> list[list]:
    return [stream[i:i + width] for i in range(0, len(stream), width)]


class TestBatches:
    """Windows of events (duplicates of one message inside one window too) count exactly once."""

    @pytest.mark.parametrize("width", [1, 7, 64])
    async def test_windows_with_duplicates(self, width: int) -> None:
        rng = random.Random(width)
        histories = make_histories(rng, messages=60)
        store = FakeProjectionStore()
        projector = BatchProjector(store)
        outcomes = []
        for window in windows(shuffled_with_duplicates(rng, histories), width):
            outcomes += await projector.apply_batch(window)
        assert outcomes.count(Outcome.APPLIED) == sum(len(h.events) for h in histories)
        assert_counters_match(store.accounts, [h.doc for h in histories], histories)

    async def test_one_account_update_per_window(self) -> None:
        histories = make_histories(random.Random(4), messages=30, users=1, accounts_per_user=1)
        store = FakeProjectionStore()
        await BatchProjector(store).apply_batch([h.events[0] for h in histories])
        assert store.calls.count("increment") == 1

    @pytest.mark.parametrize("step", ["create", "claim", "increment", "settle", "release"])
    @pytest.mark.parametrize("nth", [1, 5])
    async def test_crash_inside_a_window(self, step: str, nth: int) -> None:
        rng = random.Random(nth + 100)
        histories = make_histories(rng, messages=40)
        batches = windows(shuffled_with_duplicates(rng, histories), 16)
        store = FakeProjectionStore()
        store.crash_after = {step: nth}
        crashed_at = None
        projector = BatchProjector(store)
        for index, window in enumerate(batches):
            try:
                await projector.apply_batch(window)
            except Crash:
                crashed_at = index
                break
        assert crashed_at is not None, "the crash was injected"
        restarted = BatchProjector(store)
        for window in batches[crashed_at:]:  # the unacked window comes back, then the rest
            await restarted.apply_batch(window)
        assert_counters_match(store.accounts, [h.doc for h in histories], histories)
