"""The gateway's aiohttp application: one ``cleanup_ctx`` per resource, routes from
:mod:`gateway.handlers`, middlewares for metrics, errors, authentication and rate limits.

``create_app(settings, db=…, broker=…, cloud=…, media=…, registry=…, intake=False)``: a resource
passed in is used as is and not closed (tests); anything else is opened here and closed on cleanup.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway import keys
from gateway.auth import Authenticator, auth_middleware
from gateway.errors import error_middleware
from gateway.export import ExportSlots
from gateway.handlers import setup_routes
from gateway.metrics import GatewayMetrics
from gateway.parsing import MAX_JSON_BODY
from gateway.ratelimit import RateLimiter, ratelimit_middleware
from shared import db as dbmod
from shared.broker import Broker
from shared.cloudapi import CloudApi
from shared.media import MediaStore, open_store
from shared.message_store import MongoMessageStore
from shared.observability import add_health_routes, metrics_middleware
from shared.requestlog import install as install_request_log
from shared.retry import connect_with_retry
from shared.secrets import TokenCipher
from shared.settings import Settings
from shared.store import EventOutbox
from shared.template_registry import TemplateRegistry
from shared.template_store import MongoTemplateStore
from shared.templates import CachedTemplates

if TYPE_CHECKING:  # imported where it is used (it pulls the sender's media fetcher)
    from gateway.media_check import Fetcher

log = structlog.get_logger("relay.gateway")
# Dependencies start in any order: the gateway waits this long for RabbitMQ before giving up.
CONNECT_SECONDS = 60.0

Context = Callable[[web.Application], AsyncIterator[None]]


def create_app(
    settings: Settings, *, db: dbmod.Database | None = None, broker: Broker | None = None,
    cloud: CloudApi | None = None, media: MediaStore | None = None,
    registry: CollectorRegistry | None = None, intake: bool = True,
    fetcher: Fetcher | None = None,
) -> web.Application:
    """Build the gateway. ``db``, ``broker``, ``cloud``, ``media`` and ``fetcher`` (of
    ``mediaUrl``s) replace what it would open; ``intake=False`` leaves the intake consumer off."""
    registry = registry or CollectorRegistry()
    metrics = GatewayMetrics.create(registry)
    app = web.Application(
        client_max_size=max(MAX_JSON_BODY, settings.media_max_bytes + 64 * 1024),
        middlewares=[metrics_middleware(metrics.http), error_middleware, auth_middleware,
                     ratelimit_middleware],
    )
    install_request_log(app)  # request ids and the access log, outermost
    app[keys.SETTINGS] = settings
    app[keys.REGISTRY] = registry
    app[keys.METRICS] = metrics
    app[keys.CIPHER] = TokenCipher(settings.secret_key)
    app[keys.LIMITER] = RateLimiter(settings.api_rate_per_second, settings.api_rate_burst)
    app[keys.EXPORTS] = ExportSlots()
    app.cleanup_ctx.extend([
        _database(db),
        _broker(broker),
        _outbox,
        _cloud(cloud),
        _media(media),
        _services(fetcher),
    ])
    if intake:
        app.cleanup_ctx.append(_intake)
    add_health_routes(app, registry, lambda: _readiness(app))
    setup_routes(app)
    return app


async def _readiness(app: web.Application) -> dict[str, bool]:
    database = await dbmod.ping(app[keys.DB]) if keys.DB in app else False
    broker = app[keys.BROKER].is_connected if keys.BROKER in app else False
    return {"mongodb": database, "rabbitmq": broker}


def _database(given: dbmod.Database | None) -> Context:
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        client = None
        if given is None:
            client = dbmod.connect(settings.database_url)
            app[keys.DB] = client[settings.mongodb_db]
        else:
            app[keys.DB] = given
        try:
            await dbmod.ensure_indexes(app[keys.DB])
        except Exception as exc:  # start anyway: /health/ready reports it
            log.warning("ensure_indexes_failed", error=repr(exc)[:300])
        app[keys.AUTH] = Authenticator(app[keys.DB])
        yield
        if client is not None:
            await client.close()

    return context


def _broker(given: Broker | None) -> Context:
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        broker = given or Broker(settings.amqp_url, shards=settings.send_shards)
        if given is None:
            await connect_with_retry(broker.connect, "broker", give_up_after=CONNECT_SECONDS)
        app[keys.BROKER] = broker
        yield
        if given is None:
            await broker.close()

    return context


async def _outbox(app: web.Application) -> AsyncIterator[None]:
    outbox = EventOutbox(app[keys.DB], app[keys.BROKER])
    outbox.start()
    app[keys.OUTBOX] = outbox
    yield
    await outbox.stop()


def _cloud(given: CloudApi | None) -> Context:
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        cloud = given or CloudApi(settings.cloud_api_url, settings.whatsapp_api_version,
                                  timeout=settings.send_timeout_seconds)
        if given is None:
            await cloud.start()
        app[keys.CLOUD] = cloud
        yield
        if given is None:
            await cloud.close()

    return context


def _media(given: MediaStore | None) -> Context:
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        store = given or await open_store(settings.media_store, data_dir=settings.data_dir,
                                          endpoint_url=settings.s3_endpoint_url)
        app[keys.MEDIA] = store
        yield
        if given is None:
            await store.close()

    return context


def _services(fetcher: Fetcher | None) -> Context:
    async def context(app: web.Application) -> AsyncIterator[None]:
        from gateway.accept import Acceptor
        from gateway.media_check import MediaCheck

        media = MediaCheck(db=app[keys.DB], store=app[keys.MEDIA], settings=app[keys.SETTINGS],
                           fetcher=fetcher)
        app[keys.TEMPLATES] = TemplateRegistry(
            db=app[keys.DB], cloud=app[keys.CLOUD], cipher=app[keys.CIPHER],
            store=CachedTemplates(MongoTemplateStore(app[keys.DB])))
        app[keys.ACCEPTOR] = Acceptor(
            db=app[keys.DB], broker=app[keys.BROKER], outbox=app[keys.OUTBOX],
            settings=app[keys.SETTINGS], metrics=app[keys.METRICS], media=media,
            messages=MongoMessageStore(app[keys.DB]),
            templates=app[keys.TEMPLATES].store, sync=app[keys.TEMPLATES].sync_account,
        )
        yield

    return context


async def _intake(app: web.Application) -> AsyncIterator[None]:
    from gateway.intake import Intake

    intake = Intake(acceptor=app[keys.ACCEPTOR], broker=app[keys.BROKER],
                    outbox=app[keys.OUTBOX], metrics=app[keys.METRICS])
    await intake.start()
    app[keys.INTAKE] = intake
    yield
    with contextlib.suppress(Exception):
        await intake.stop()
