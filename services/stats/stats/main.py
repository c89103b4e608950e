"""The stats service: consumes ``relay.events.stats`` into the counters; health, metrics, depths.

The queue has a single active consumer, so one stats process projects at a time; others stand
by. Shutdown stops taking events, lets the ones in hand finish, then closes the channel (which
hands the queue over), so two processes never work on the same event.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from prometheus_client import CollectorRegistry

from shared import topology
from shared.broker import Broker
from shared.db import Database, connect, ensure_indexes, ping
from shared.models import MessageEvent
from shared.observability import serve_health
from shared.retry import connect_with_retry
from shared.settings import Settings
from stats.batch import BatchProjector
from stats.consumer import EventConsumer
from stats.limits import poll_daily_limits
from stats.metrics import StatsMetrics
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


async def serve(settings: Settings) -> None:
    """Run the stats service until cancelled."""
    registry = CollectorRegistry()
    metrics = StatsMetrics.create(registry)
    client = connect(settings.database_url)
    db: Database = client[settings.mongodb_db]
    broker = Broker(settings.amqp_url, shards=settings.send_shards)

    async def ready() -> dict[str, bool]:
        return {"mongodb": await ping(db), "rabbitmq": broker.is_connected}

    # Usually both answer at once, so the service is ready as soon as it is live; if not,
    # it serves health (ready: 503) while it keeps trying.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(broker.connect(), CONNECT_SECONDS)
    runner = await serve_health(settings.host, settings.stats_port, registry, ready)
    projector = BatchProjector(MongoProjectionStore(db), on_recovered=metrics.recoveries.inc)
    consumer = EventConsumer(projector, metrics=metrics, window=PREFETCH)
    poller: asyncio.Task[None] | None = None
    limits = asyncio.create_task(poll_daily_limits(db, metrics=metrics))
    try:
        await ensure_indexes(db)
        if not broker.is_connected:
            # RabbitMQ is away: keep trying (readiness says 503 meanwhile).
            await connect_with_retry(broker.connect, "broker", max_wait=1.0)
        consumer.start()
        await broker.consume(
            topology.STATS_QUEUE, consumer.handle, model=MessageEvent, prefetch=PREFETCH
        )
        poller = asyncio.create_task(poll_queue_depths(broker, metrics=metrics))
        log.info("stats_started", port=settings.stats_port)
        await asyncio.Event().wait()
    finally:
        if poller is not None:
            poller.cancel()
        limits.cancel()
        await consumer.stop()
        with contextlib.suppress(Exception):
            await broker.close()
        await runner.cleanup()
        await client.close()
