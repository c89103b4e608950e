"""Health and Prometheus endpoints every service answers, and HTTP request metrics.

``GET /health/live`` is 200 while the process runs; ``GET /health/ready`` is 200 only while every
dependency answers (503 with the failing ones named otherwise); ``GET /metrics`` is Prometheus
text from the service's own :class:`CollectorRegistry`, with the process, garbage-collector and
platform collectors, ``relay_build_info`` and ``relay_ready`` (readiness, evaluated per scrape).
"""

from __future__ import annotations

import asyncio
import os
import platform
import time
import weakref
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from shared.dbwrites import WriteCollector

Readiness = Callable[[], Awaitable[dict[str, bool]]]

REGISTRY_KEY = web.AppKey("metrics_registry", CollectorRegistry)
READINESS_KEY = web.AppKey("readiness", object)
READY_TIMEOUT_SECONDS = 2.0
_ROOT = Path(__file__).resolve().parents[1]
# One set of runtime metrics per registry: a registry refuses a second collector of a name.
_RUNTIME: weakref.WeakKeyDictionary[CollectorRegistry, Gauge] = weakref.WeakKeyDictionary()


def build_commit() -> str:
    """The commit this build runs: ``RELAY_BUILD_COMMIT`` (set when the image is built), else
    the source checkout's ``HEAD``, else ``unknown``."""
    if commit := os.environ.get("RELAY_BUILD_COMMIT", "").strip():
        return commit
    git = _ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head.removeprefix("ref: ")
        if (git / ref).is_file():
            return (git / ref).read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    except OSError:
        pass
    return "unknown"


def _relay_version() -> str:
    try:
        return version("relay")
    except PackageNotFoundError:
        return "unknown"


def runtime_metrics(registry: CollectorRegistry) -> Gauge:
    """Register the process, GC and platform collectors, ``relay_build_info`` and
    ``relay_ready`` on ``registry`` (once per registry); return the ``relay_ready`` gauge."""
    if (ready := _RUNTIME.get(registry)) is not None:
        return ready
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(WriteCollector())
    Gauge(
        "relay_build_info", "The running build: always 1, labelled with its version.",
        ["version", "commit", "python"], registry=registry,
    ).labels(_relay_version(), build_commit(), platform.python_version()).set(1)
    ready = Gauge(
        "relay_ready", "1 while every dependency answers (as /health/ready), per scrape.",
        registry=registry,
    )
    _RUNTIME[registry] = ready
    return ready


async def _checks(ready: Readiness) -> dict[str, bool]:
    """The readiness checks, each failed if they do not answer within the timeout."""
    try:
        return await asyncio.wait_for(ready(), READY_TIMEOUT_SECONDS)
    except Exception:
        return {"checks": False}


def request_duration(registry: CollectorRegistry) -> Histogram:
    """``relay_http_request_duration_seconds`` by route template, method and status."""
    return Histogram(
        "relay_http_request_duration_seconds",
        "HTTP request duration by route, method and status.",
        ["route", "method", "status"],
        registry=registry,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    )


def metrics_middleware(histogram: Histogram) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Time every request; the label is the route template, never the concrete path."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            info = request.match_info.route.resource
            route = info.canonical if info is not None else "unmatched"
            histogram.labels(route, request.method, str(status)).observe(
                time.perf_counter() - started
            )

    return middleware


def add_health_routes(app: web.Application, registry: CollectorRegistry, ready: Readiness) -> None:
    """Mount ``/health/live``, ``/health/ready`` and ``/metrics`` on ``app``."""

    async def live(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    ready_gauge = runtime_metrics(registry)

    async def readiness(_: web.Request) -> web.Response:
        checks = await ready()
        ok = all(checks.values())
        ready_gauge.set(1 if ok else 0)
        body = {"status": "ok" if ok else "unavailable", "checks": checks}
        return web.json_response(body, status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        ready_gauge.set(1 if all((await _checks(ready)).values()) else 0)
        response = web.Response(body=generate_latest(registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", readiness)
    app.router.add_get("/metrics", metrics)


async def serve_health(
    host: str, port: int, registry: CollectorRegistry, ready: Readiness
) -> web.AppRunner:
    """Run a small HTTP server with only the health and metrics routes (workers use it)."""
    app = web.Application()
    add_health_routes(app, registry, ready)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def serve_until_cancelled(
    app: web.Application, host: str, port: int, *, backlog: int = 128,
    on_listening: Callable[[], None] | None = None, **runner_options: Any,
) -> None:
    """Serve ``app`` on ``host:port`` until the task is cancelled, then close every connection
    (the ``serve()`` of each HTTP service)."""
    runner = web.AppRunner(app, access_log=None, **runner_options)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=backlog).start()
        if on_listening is not None:
            on_listening()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
