"""``relay serve gateway``: the HTTP API and the broker command intake, until cancelled."""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from gateway.app import create_app
from shared.settings import Settings

log = structlog.get_logger("relay.gateway")


async def serve(settings: Settings) -> None:
    """Run the gateway on ``settings.host:settings.gateway_port`` until cancelled."""
    # Long query strings reach the app (and its JSON 400), not the parser's plain-text error.
    runner = web.AppRunner(create_app(settings), access_log=None, shutdown_timeout=10,
                           max_line_size=65536, max_field_size=65536)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.gateway_port, backlog=1024).start()
        log.info("gateway_listening", host=settings.host, port=settings.gateway_port)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
