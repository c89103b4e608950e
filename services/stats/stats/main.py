"""The stats service: consumes ``relay.events.stats`` into the counters; health, metrics, depths.

The queue has a single active consumer, so one stats process projects at a time; others stand
by. Shutdown stops taking events, lets the ones in hand finish, then closes the channel (which
hands the queue over), so two processes never work on the same event.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog
from aio_pika.abc import AbstractIncomingMessage
from prometheus_client import CollectorRegistry
from pymongo.errors import PyMongoError

from shared import topology
from shared.broker import Broker, Requeue
from shared.db import Database, connect, ensure_indexes, ping
from shared.models import MessageEvent
from shared.observability import serve_health
from shared.settings import Settings
from stats.metrics import StatsMetrics
from stats.projection import Outcome, Projector
from stats.store import MongoProjectionStore

log = structlog.get_logger("relay.stats")

PREFETCH = 200
DEPTH_POLL_SECONDS = 5.0
DRAIN_SECONDS = 10.0


class EventConsumer:
    """The broker-facing adapter: projects each event, records metrics, maps errors to requeue."""

    def __init__(self, projector: Projector, *, metrics: StatsMetrics) -> None:
        self._projector = projector
        self._metrics = metrics
        self._stopping = False
        self._in_hand = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def handle(self, event: MessageEvent, _message: AbstractIncomingMessage) -> None:
        if self._stopping:
            raise Requeue("stats is shutting down")
        self._in_hand += 1
        self._idle.clear()
        try:
            outcome = await self._projector.apply(event)
        except PyMongoError as exc:
            self._metrics.events.labels("failed").inc()
            raise Requeue(f"database: {exc!r}") from exc
        except Exception:
            self._metrics.events.labels("failed").inc()
            raise
        finally:
            self._in_hand -= 1
            if not self._in_hand:
                self._idle.set()
        self._metrics.events.labels(outcome.value).inc()
        if outcome == Outcome.APPLIED:
            self._metrics.lag.set(max(0.0, _age(event.occurred_at)))

    async def drain(self, timeout: float = DRAIN_SECONDS) -> None:
        """Refuse new events and wait for the ones in hand."""
        self._stopping = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)


def _age(occurred_at: datetime) -> float:
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    return (datetime.now(UTC) - occurred_at).total_seconds()


async def poll_queue_depths(
    broker: Broker, *, metrics: StatsMetrics, interval: float = DEPTH_POLL_SECONDS
) -> None:
    """Export ``relay_queue_depth`` for every queue and ``relay_dead_letters``, forever."""
    queues = topology.all_queues(broker.shards)
    while True:
        if broker.is_connected:
            for queue in queues:
                depth = await broker.queue_depth(queue)
                if depth is None:
                    continue
                metrics.queue_depth.labels(queue).set(depth)
                if queue == topology.DEAD_QUEUE:
                    metrics.dead_letters.set(depth)
        await asyncio.sleep(interval)


async def _connect(broker: Broker) -> None:
    """Connect to RabbitMQ, retrying while it is away (readiness says 503 meanwhile)."""
    while True:
        try:
            await broker.connect()
            return
        except Exception as exc:
            log.warning("broker_unavailable", error=repr(exc)[:300])
            await asyncio.sleep(1.0)


async def serve(settings: Settings) -> None:
    """Run the stats service until cancelled."""
    registry = CollectorRegistry()
    metrics = StatsMetrics.create(registry)
    client = connect(settings.database_url)
    db: Database = client[settings.mongodb_db]
    broker = Broker(settings.amqp_url, shards=settings.send_shards)

    async def ready() -> dict[str, bool]:
        return {"mongodb": await ping(db), "rabbitmq": broker.is_connected}

    runner = await serve_health(settings.host, settings.stats_port, registry, ready)
    projector = Projector(MongoProjectionStore(db), on_recovered=metrics.recoveries.inc)
    consumer = EventConsumer(projector, metrics=metrics)
    poller: asyncio.Task[None] | None = None
    try:
        await ensure_indexes(db)
        await _connect(broker)
        await broker.consume(
            topology.STATS_QUEUE, consumer.handle, model=MessageEvent, prefetch=PREFETCH
        )
        poller = asyncio.create_task(poll_queue_depths(broker, metrics=metrics))
        log.info("stats_started", port=settings.stats_port)
        await asyncio.Event().wait()
    finally:
        if poller is not None:
            poller.cancel()
        await consumer.drain()
        with contextlib.suppress(Exception):
            await broker.close()
        await runner.cleanup()
        await client.close()
