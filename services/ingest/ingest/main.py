"""``relay serve ingest``: the webhook endpoint and the inbox worker, in one process."""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from ingest.app import create_app
from shared.settings import Settings

log = structlog.get_logger("relay.ingest")


async def serve(settings: Settings) -> None:
    """Serve on ``settings.ingest_port`` until cancelled, then clean up."""
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.ingest_port).start()
        log.info("ingest_listening", host=settings.host, port=settings.ingest_port)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
