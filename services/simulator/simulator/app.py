"""Builds the simulator's aiohttp application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from shared.observability import add_health_routes, metrics_middleware, request_duration
from shared.settings import Settings
from simulator.cloud_routes import add_cloud_routes
from simulator.control_routes import add_control_routes
from simulator.errors import SimError
from simulator.keys import METRICS, POSTER, STATE
from simulator.media_types import LARGEST
from simulator.metrics import SimMetrics
from simulator.state import ControlError, SimState
from simulator.templates import add_template_routes
from simulator.webhooks import WebhookPoster

log = structlog.get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Cloud API errors in Meta's shape; control-API mistakes as ``{"error": "..."}``, 400."""
    try:
        return await handler(request)
    except SimError as exc:
        return web.json_response(exc.body(), status=exc.http_status)
    except ControlError as exc:
        return web.json_response({"error": str(exc)}, status=400)


def create_app(
    settings: Settings, *, registry: CollectorRegistry | None = None,
    webhook_url: str | None = None, retry_window: float = 60.0,
) -> web.Application:
    """The simulator app: Cloud API routes, ``/_sim`` control routes, health and metrics."""
    registry = registry or CollectorRegistry()
    app = web.Application(
        client_max_size=LARGEST + 1024 * 1024,
        middlewares=[metrics_middleware(request_duration(registry)), error_middleware],
    )
    metrics = SimMetrics.create(registry)
    app[METRICS] = metrics
    app[STATE] = SimState(default_status_delay=settings.sim_status_delay_seconds)
    app[POSTER] = WebhookPoster(
        url=webhook_url or settings.webhook_url, app_secret=settings.whatsapp_app_secret,
        metrics=metrics, retry_window=retry_window,
    )
    app.cleanup_ctx.append(_poster_lifecycle)

    async def ready() -> dict[str, bool]:
        return {"simulator": True}

    add_health_routes(app, registry, ready)
    add_control_routes(app)
    add_template_routes(app)  # before the cloud routes: /_sim/templates is no object id
    add_cloud_routes(app)
    return app


async def _poster_lifecycle(app: web.Application) -> AsyncIterator[None]:
    await app[POSTER].start()
    yield
    await app[POSTER].close()
