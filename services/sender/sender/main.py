"""The sender process: wiring (:func:`bootstrap`) and lifecycle (:func:`serve`).

A consumer on each send shard this process leases (``sender.shards``: shards spread over the
running senders; single-active-consumer stays on as the second guard), the sweeper, the event
outbox, and health/metrics on ``RELAY_SENDER_PORT``. Shutdown stops taking commands, lets the
sends in flight finish, frees the leases, then drains the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage
from prometheus_client import CollectorRegistry

from sender.accounts import Accounts
from sender.context import Context
from sender.daily_store import MongoDailySends
from sender.handlers import dispatch
from sender.lease_store import MongoLeaseStore
from sender.leases import ShardLeases
from sender.media import MediaFetcher
from sender.metrics import SenderMetrics
from sender.pacing import Clock, Pacer
from sender.ports import CloudPort, FetcherPort
from sender.shards import BrokerShards, ShardKeeper
from sender.sweeper import Sweeper
from sender.windows import MongoContactWindows
from shared.broker import Broker
from shared.cloudapi import CloudApi
from shared.db import connect, ensure_indexes, ping
from shared.media import MediaStore, open_store
from shared.message_store import MongoMessageStore
from shared.observability import serve_health
from shared.retry import connect_with_retry
from shared.secrets import TokenCipher
from shared.settings import Settings
from shared.store import EventOutbox

log = structlog.get_logger("relay.sender")

PREFETCH_PER_SHARD = 256
# Dependencies start in any order: a sender waits this long for each before giving up.
CONNECT_SECONDS = 60.0


class SenderService:
    """A wired sender: :meth:`start` connects and consumes, :meth:`stop` shuts down cleanly."""

    def __init__(self, settings: Settings, *, cloud: CloudPort | None, clock: Clock,
                 store: MediaStore | None, fetcher: FetcherPort | None,
                 registry: CollectorRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self.metrics = SenderMetrics.create(registry)
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._cloud = cloud
        self._clock = clock
        self._store = store
        self._fetcher = fetcher
        self._client: Any = None
        self.broker = Broker(settings.amqp_url, shards=settings.send_shards)
        self.ctx: Context | None = None
        self.sweeper: Sweeper | None = None
        self.keeper: ShardKeeper | None = None
        self._owned: list[Any] = []
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self, *, consume: bool = True) -> None:
        await connect_with_retry(self.broker.connect, "broker", give_up_after=CONNECT_SECONDS)
        self._client = connect(self.settings.database_url)
        db = self._client[self.settings.mongodb_db]
        await connect_with_retry(lambda: ensure_indexes(db), "database",
                                 give_up_after=CONNECT_SECONDS)
        if self._cloud is None:
            api = CloudApi(self.settings.cloud_api_url, self.settings.whatsapp_api_version,
                           timeout=self.settings.send_timeout_seconds)
            await api.start()
            self._owned.append(api)
            self._cloud = api
        store = self._store or await open_store(
            self.settings.media_store, data_dir=self.settings.data_dir,
            endpoint_url=self.settings.s3_endpoint_url)
        fetcher = self._fetcher or MediaFetcher(
            allowlist=self.settings.media_fetch_allowlist,
            max_bytes=self.settings.media_max_bytes, timeout=self.settings.send_timeout_seconds)
        outbox = EventOutbox(db, self.broker)
        outbox.start()
        self.ctx = Context(
            settings=self.settings, db=db, broker=self.broker, cloud=self._cloud, store=store,
            fetcher=fetcher, accounts=Accounts(db, TokenCipher(self.settings.secret_key)),
            messages=MongoMessageStore(db),
            pacer=Pacer(clock=self._clock, enabled=self.settings.pacing_enabled),
            metrics=self.metrics, clock=self._clock, process_id=self.process_id,
            daily_sends=MongoDailySends(db), windows=MongoContactWindows(db), outbox=outbox,
            semaphore=asyncio.Semaphore(self.settings.send_concurrency),
        )
        self.sweeper = Sweeper(self.ctx, depth=self.broker.queue_depth,
                               consume=self.broker.consume)
        self.sweeper.start()
        if consume:
            await self.consume()
        log.info("sender_started", process_id=self.process_id, shards=self.settings.send_shards)

    async def consume(self) -> None:
        """Take this process's share of the shard leases and consume those shards."""
        assert self.ctx is not None
        consumers = BrokerShards(
            self.broker, self._on_command, prefetch=PREFETCH_PER_SHARD,
            drain_seconds=self.settings.send_timeout_seconds + 5,
            forget_account=self.ctx.pacer.forget)
        leases = ShardLeases(MongoLeaseStore(self.ctx.db), sender=self.process_id,
                             shards=self.settings.send_shards,
                             ttl_seconds=self.settings.shard_lease_ttl_seconds)
        self.keeper = ShardKeeper(
            leases, consumers, renew_seconds=self.settings.shard_lease_renew_seconds,
            ttl_seconds=self.settings.shard_lease_ttl_seconds,
            on_owned=self.metrics.shards_owned.set)
        await self.keeper.start()

    async def _on_command(self, command: Any, message: AbstractIncomingMessage) -> None:
        assert self.ctx is not None
        self._in_flight += 1
        self._idle.clear()
        try:
            await dispatch(command, dict(message.headers or {}), ctx=self.ctx)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def ready(self) -> dict[str, bool]:
        db_ok = self.ctx is not None and await ping(self.ctx.db)
        return {"broker": self.broker.is_connected, "database": db_ok}

    async def stop(self) -> None:
        """Stop consuming, finish what is in flight, drain the outbox, close everything."""
        if self.keeper is not None:
            await self.keeper.close()
        await self.broker.cancel_consumers()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.settings.send_timeout_seconds + 5)
        if self.sweeper is not None:
            await self.sweeper.stop()
        if self.ctx is not None and self.ctx.outbox is not None:
            await self.ctx.outbox.stop()
        for owned in self._owned:
            await owned.close()
        with contextlib.suppress(TimeoutError):  # a broker that stopped answering
            await asyncio.wait_for(self.broker.close(), 10)
        if self._client is not None:
            await self._client.close()
        log.info("sender_stopped", process_id=self.process_id)


def bootstrap(
    settings: Settings, *, cloud: CloudPort | None = None, clock: Clock | None = None,
    store: MediaStore | None = None, fetcher: FetcherPort | None = None,
    registry: CollectorRegistry | None = None,
) -> SenderService:
    """Wire a sender; every dependency can be replaced (tests pass fakes or a fixed clock)."""
    return SenderService(settings, cloud=cloud, clock=clock or time.time, store=store,
                         fetcher=fetcher, registry=registry or CollectorRegistry())


async def serve(settings: Settings) -> None:
    """Run a sender until cancelled, then shut down gracefully."""
    service = bootstrap(settings)
    health = await serve_health(settings.host, settings.sender_port, service.registry,
                                service.ready)
    try:
        await service.start()
        await asyncio.Event().wait()
    finally:
        await service.stop()
        await health.cleanup()
