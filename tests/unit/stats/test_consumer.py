"""The broker-facing consumer: deliveries share windows, errors requeue, metrics move."""

from __future__ import annotations

import asyncio
import random

import pytest
from prometheus_client import CollectorRegistry
from pymongo.errors import AutoReconnect

from shared.broker import Requeue
from shared.models import MessageEvent
from stats.batch import BatchProjector
from stats.consumer import EventConsumer
from stats.metrics import StatsMetrics
from stats.projection import Outcome
from tests.stats_support import assert_counters_match, make_histories
from tests.unit.stats.fakes import FakeProjectionStore

pytestmark = pytest.mark.unit


class RecordingProjector(BatchProjector):
    """Remembers the size of every window; can be told to fail like a lost database."""

    def __init__(self, store: FakeProjectionStore) -> None:
        super().__init__(store)
        self.windows: list[int] = []
        self.fail = False

    async def apply_batch(self, events: list[MessageEvent]) -> list[Outcome]:
        self.windows.append(len(events))
        if self.fail:
            raise AutoReconnect("database away")
        return await super().apply_batch(events)


def consumer_for(
    store: FakeProjectionStore,
) -> tuple[EventConsumer, RecordingProjector, CollectorRegistry]:
    registry = CollectorRegistry()
    projector = RecordingProjector(store)
    consumer = EventConsumer(projector, metrics=StatsMetrics.create(registry), window=50)
    consumer.start()
    return consumer, projector, registry


class TestEventConsumer:
    """Concurrent deliveries are projected together and acked only once applied."""

    async def test_concurrent_deliveries_share_windows(self) -> None:
        histories = make_histories(random.Random(8), messages=40)
        events = [e for h in histories for e in h.events]
        store = FakeProjectionStore()
        consumer, projector, registry = consumer_for(store)
        await asyncio.gather(*(consumer.handle(e, None) for e in events))  # type: ignore[arg-type]
        await consumer.stop()
        assert max(projector.windows) > 1 and sum(projector.windows) == len(events)
        assert len(projector.windows) < len(events) / 2
        assert_counters_match(store.accounts, [h.doc for h in histories], histories)
        applied = registry.get_sample_value(
            "relay_projection_events_total", {"outcome": "applied"})
        assert applied == len(events)
        assert registry.get_sample_value("relay_projection_lag_seconds") > 0

    async def test_a_database_error_requeues_the_whole_window(self) -> None:
        [history] = make_histories(random.Random(9), messages=1)
        consumer, projector, registry = consumer_for(FakeProjectionStore())
        projector.fail = True
        with pytest.raises(Requeue):
            await consumer.handle(history.events[0], None)  # type: ignore[arg-type]
        assert registry.get_sample_value(
            "relay_projection_events_total", {"outcome": "failed"}) == 1
        await consumer.stop()

    async def test_after_stop_deliveries_go_back(self) -> None:
        [history] = make_histories(random.Random(10), messages=1)
        consumer, _, _ = consumer_for(FakeProjectionStore())
        await consumer.stop()
        with pytest.raises(Requeue):
            await consumer.handle(history.events[0], None)  # type: ignore[arg-type]
