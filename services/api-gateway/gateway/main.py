"""``relay serve gateway``: the HTTP API and the broker command intake, until cancelled."""

from __future__ import annotations

import structlog

from gateway.app import create_app
from shared.observability import serve_until_cancelled
from shared.settings import Settings

log = structlog.get_logger("relay.gateway")


async def serve(settings: Settings) -> None:
    """Run the gateway on ``settings.host:settings.gateway_port`` until cancelled."""
    # Long query strings reach the app (and its JSON 400), not the parser's plain-text error.
    await serve_until_cancelled(
        create_app(settings), settings.host, settings.gateway_port, backlog=1024,
        shutdown_timeout=10, max_line_size=65536, max_field_size=65536,
        on_listening=lambda: log.info("gateway_listening", host=settings.host,
                                      port=settings.gateway_port))
