"""The stats service: consumes ``relay.events.stats`` into the counters; health, metrics, depths.

The queue has a single active consumer, so one stats process projects at a time; others stand
by. Shutdown stops taking events, lets the ones in hand finish, then closes the channel (which
hands the queue over), so two processes never work on the same event.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient

from shared import topology
from shared.broker import Broker
from shared.db import Database, connect, ensure_indexes, ping
from shared.models import MessageEvent
from shared.observability import serve_health
from shared.retry import connect_with_retry
from shared.settings import Settings
from shared.tasks import stop_task
from stats.batch import BatchProjector
from stats.consumer import EventConsumer
from stats.limits import poll_daily_limits
from stats.metrics import StatsMetrics
from stats.projection import ProjectionStore
from stats.store import MongoProjectionStore

log = structlog.get_logger("relay.stats")

PREFETCH = 200
DEPTH_POLL_SECONDS = 5.0
CONNECT_SECONDS = 15.0


async def poll_queue_depths(
    broker: Broker, *, metrics: StatsMetrics, interval: float = DEPTH_POLL_SECONDS
) -> None:
    """Export ``relay_queue_depth`` for every queue and ``relay_dead_letters``, forever."""
    queues = topology.all_queues(broker.shards)
    while True:
        if broker.is_connected:
            depths = await asyncio.gather(*(broker.queue_depth(q) for q in queues))
            for queue, depth in zip(queues, depths, strict=True):
                if depth is None:
                    continue
                metrics.queue_depth.labels(queue).set(depth)
                if queue == topology.DEAD_QUEUE:
                    metrics.dead_letters.set(depth)
        await asyncio.sleep(interval)


class StatsService:
    """The stats process: the projection consumer, the queue-depth and daily-limit pollers."""

    def __init__(
        self, settings: Settings, *, db: Database, repo: ProjectionStore, broker: Broker,
        registry: CollectorRegistry, client: AsyncMongoClient[dict[str, Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.broker = broker
        self.registry = registry
        self.metrics = StatsMetrics.create(registry)
        self.projector = BatchProjector(repo, on_recovered=self.metrics.recoveries.inc)
        self.consumer = EventConsumer(self.projector, metrics=self.metrics, window=PREFETCH)
        self._client = client
        self._tasks: list[asyncio.Task[None]] = []

    async def ready(self) -> dict[str, bool]:
        return {"mongodb": await ping(self.db), "rabbitmq": self.broker.is_connected}

    async def start(self) -> None:
        """Poll the daily limits, then consume events once the database and RabbitMQ answer
        (RabbitMQ away: keep trying; readiness says 503 meanwhile)."""
        self._tasks.append(asyncio.create_task(poll_daily_limits(self.db, metrics=self.metrics)))
        await ensure_indexes(self.db)
        if not self.broker.is_connected:
            await connect_with_retry(self.broker.connect, "broker", max_wait=1.0)
        self.consumer.start()
        await self.broker.consume(
            topology.STATS_QUEUE, self.consumer.handle, model=MessageEvent, prefetch=PREFETCH
        )
        self._tasks.append(
            asyncio.create_task(poll_queue_depths(self.broker, metrics=self.metrics))
        )

    async def stop(self) -> None:
        """Stop polling, finish the events in hand, then hand the queue over and disconnect."""
        for task in self._tasks:
            await stop_task(task)
        await self.consumer.stop()
        with contextlib.suppress(Exception):
            await self.broker.close()
        if self._client is not None:
            await self._client.close()


def bootstrap(
    settings: Settings, *, repo: ProjectionStore | None = None, db: Database | None = None,
    broker: Broker | None = None, registry: CollectorRegistry | None = None,
) -> StatsService:
    """Wire a stats service; every dependency can be replaced (tests pass a fake projection
    store, their database or broker). A database or broker passed in is closed by its owner."""
    client = None
    if db is None:
        client = connect(settings.database_url)
        db = client[settings.mongodb_db]
    return StatsService(
        settings, db=db, repo=repo or MongoProjectionStore(db),
        broker=broker or Broker(settings.amqp_url, shards=settings.send_shards),
        registry=registry or CollectorRegistry(), client=client,
    )


async def serve(settings: Settings) -> None:
    """Run the stats service until cancelled."""
    service = bootstrap(settings)
    # Usually both answer at once, so the service is ready as soon as it is live; if not,
    # it serves health (ready: 503) while it keeps trying.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(service.broker.connect(), CONNECT_SECONDS)
    runner = await serve_health(settings.host, settings.stats_port, service.registry,
                                service.ready)
    try:
        await service.start()
        log.info("stats_started", port=settings.stats_port)
        await asyncio.Event().wait()
    finally:
        await service.stop()
        await runner.cleanup()
