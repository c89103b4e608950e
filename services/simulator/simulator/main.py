"""``relay sim``: the WhatsApp Cloud API simulator on ``RELAY_SIM_PORT``."""

from __future__ import annotations

import structlog

from shared.observability import serve_until_cancelled
from shared.settings import Settings
from simulator.app import create_app

log = structlog.get_logger(__name__)


async def serve(settings: Settings) -> None:
    """Serve the simulator until cancelled, then close every connection."""
    await serve_until_cancelled(
        create_app(settings), settings.host, settings.sim_port,
        on_listening=lambda: log.info("simulator_started", port=settings.sim_port,
                                      webhook_url=settings.webhook_url))
