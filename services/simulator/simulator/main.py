"""``relay sim``: the WhatsApp Cloud API simulator on ``RELAY_SIM_PORT``."""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from shared.settings import Settings
from simulator.app import create_app

log = structlog.get_logger(__name__)


async def serve(settings: Settings) -> None:
    """Serve the simulator until cancelled, then close every connection."""
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.sim_port).start()
        log.info("simulator_started", port=settings.sim_port, webhook_url=settings.webhook_url)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
