"""Builds the ingest app: webhook routes, health and metrics, and the inbox worker.

One ``cleanup_ctx`` per resource. The broker connects in the background and keeps trying, so the
endpoint starts even while RabbitMQ is away and answers 503 (``/health/ready`` too) until it is
back. Overrides (``publisher``, ``database``, ``cloud``, ``media_store``, ``registry``) let tests
pass their own; ``with_worker=False`` runs the HTTP side alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from ingest.keys import (
    CLOUD,
    CONNECTED,
    DATABASE,
    MEDIA_STORE,
    METRICS,
    PUBLISHER,
    REGISTRY,
    SETTINGS,
)
from ingest.media import MediaFetcher, MediaSource
from ingest.metrics import IngestMetrics
from ingest.ports import Publisher
from ingest.webhook import MAX_BODY_BYTES, add_routes
from ingest.worker import PARK_AFTER_SECONDS, InboxWorker
from shared import topology
from shared.broker import Broker
from shared.cloudapi import CloudApi
from shared.db import Database, connect, ensure_indexes, ping
from shared.media import MediaStore, open_store
from shared.observability import add_health_routes, metrics_middleware, request_duration
from shared.requestlog import install as install_request_log
from shared.retry import connect_with_retry
from shared.secrets import TokenCipher
from shared.settings import Settings
from shared.store import EventOutbox
from shared.tasks import stop_task

log = structlog.get_logger("relay.ingest")

CONNECT_RETRY_SECONDS = 1.0  # the longest wait between two tries
INBOX_PREFETCH = 16


def create_app(
    settings: Settings, *, publisher: Publisher | None = None, database: Database | None = None,
    cloud: MediaSource | None = None, media_store: MediaStore | None = None,
    registry: CollectorRegistry | None = None, with_worker: bool = True,
    park_after_seconds: float = PARK_AFTER_SECONDS,
) -> web.Application:
    """The ingest application (not yet started)."""
    registry = registry or CollectorRegistry()
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[metrics_middleware(request_duration(registry))],
    )
    install_request_log(app)  # request ids and the access log, outermost
    app[SETTINGS] = settings
    app[REGISTRY] = registry
    app[METRICS] = IngestMetrics.create(registry)
    app[CONNECTED] = asyncio.Event()
    app.cleanup_ctx.append(_broker_ctx(publisher))
    if with_worker:
        app.cleanup_ctx.append(_database_ctx(database))
        app.cleanup_ctx.append(_cloud_ctx(cloud))
        app.cleanup_ctx.append(_media_store_ctx(media_store))
        app.cleanup_ctx.append(_worker_ctx(park_after=park_after_seconds))
    add_routes(app)
    add_health_routes(app, registry, lambda: _readiness(app, with_worker))
    return app


async def _readiness(app: web.Application, with_worker: bool) -> dict[str, bool]:
    checks = {"broker": app[CONNECTED].is_set() and app[PUBLISHER].is_connected}
    if with_worker:
        checks["database"] = await ping(app[DATABASE])
    return checks


def _broker_ctx(given: Publisher | None) -> Any:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if given is not None:
            app[PUBLISHER] = given
            app[CONNECTED].set()
            yield
            return
        settings = app[SETTINGS]
        broker = Broker(settings.amqp_url, shards=settings.send_shards)
        app[PUBLISHER] = broker
        connecting = asyncio.create_task(
            _connect_forever(broker, app[CONNECTED]), name="ingest-broker-connect"
        )
        yield
        await stop_task(connecting)
        with contextlib.suppress(Exception):
            await broker.close()

    return ctx


async def _connect_forever(broker: Broker, connected: asyncio.Event) -> None:
    # Down, refused, or a vhost that is missing: keep trying; a half-made connection is closed.
    await connect_with_retry(lambda: broker.connect(timeout=5.0), "broker",
                             max_wait=CONNECT_RETRY_SECONDS, on_failure=broker.close)
    log.info("broker_connected")
    connected.set()


def _database_ctx(given: Database | None) -> Any:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if given is not None:
            app[DATABASE] = given
            yield
            return
        settings = app[SETTINGS]
        client = connect(settings.database_url)
        app[DATABASE] = client[settings.mongodb_db]
        yield
        await client.close()

    return ctx


def _cloud_ctx(given: MediaSource | None) -> Any:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if given is not None:
            app[CLOUD] = given
            yield
            return
        settings = app[SETTINGS]
        cloud = CloudApi(settings.cloud_api_url, settings.whatsapp_api_version)
        await cloud.start()
        app[CLOUD] = cloud
        yield
        await cloud.close()

    return ctx


def _media_store_ctx(given: MediaStore | None) -> Any:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        store = given or await open_store(
            settings.media_store, data_dir=settings.data_dir, endpoint_url=settings.s3_endpoint_url
        )
        app[MEDIA_STORE] = store
        yield
        if given is None:
            await store.close()

    return ctx


def _worker_ctx(*, park_after: float) -> Any:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings, db, broker = app[SETTINGS], app[DATABASE], app[PUBLISHER]
        if not isinstance(broker, Broker):
            raise TypeError("the inbox worker consumes the inbox: it needs a shared.broker.Broker")
        outbox = EventOutbox(db, broker)
        fetcher = MediaFetcher(
            db=db, source=app[CLOUD], store=app[MEDIA_STORE],
            cipher=TokenCipher(settings.secret_key), max_bytes=settings.media_max_bytes,
            gateway_url=settings.gateway_url,
        )
        worker = InboxWorker(db=db, broker=broker, outbox=outbox, media=fetcher,
                             metrics=app[METRICS], park_after_seconds=park_after)
        task = asyncio.create_task(
            _start_worker(app[CONNECTED], broker, db, outbox, worker), name="ingest-worker"
        )
        yield
        await stop_task(task)
        await broker.cancel_consumers()
        await worker.drained()
        await outbox.stop()

    return ctx


async def _start_worker(
    connected: asyncio.Event, broker: Broker, db: Database, outbox: EventOutbox,
    worker: InboxWorker,
) -> None:
    await connected.wait()
    # The database is away: readiness says so, keep trying.
    await connect_with_retry(lambda: ensure_indexes(db), "database",
                             max_wait=CONNECT_RETRY_SECONDS)
    outbox.start()
    await broker.consume(topology.INBOX_QUEUE, worker.handle, model=dict[str, Any],
                         prefetch=INBOX_PREFETCH)
    log.info("inbox_consuming", queue=topology.INBOX_QUEUE)
