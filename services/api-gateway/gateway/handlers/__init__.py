"""The gateway's route registry: every route of the HTTP API, in one list.

Plain paths are registered before parameterised ones, so ``/messages/statistics`` is never taken
for a message id whatever the order below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

View = Callable[[web.Request], Awaitable[web.StreamResponse]]
API = "/api/v1"

ROUTES: list[tuple[str, str, View]] = [
    # gateway-1: messages, accounts, contacts, asyncapi (added as they land)
    # gateway-2: media, statistics, queues/metrics, openapi, docs
]


def setup_routes(app: web.Application) -> None:
    """Add every route of :data:`ROUTES` to ``app``."""
    for method, path, view in sorted(ROUTES, key=lambda route: "{" in route[1]):
        app.router.add_route(method, path, view)
