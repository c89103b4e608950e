"""``relay serve ingest``: the webhook endpoint and the inbox worker, in one process."""

from __future__ import annotations

import structlog

from ingest.app import create_app
from shared.observability import serve_until_cancelled
from shared.settings import Settings

log = structlog.get_logger("relay.ingest")


async def serve(settings: Settings) -> None:
    """Serve on ``settings.ingest_port`` until cancelled, then clean up."""
    await serve_until_cancelled(
        create_app(settings), settings.host, settings.ingest_port,
        on_listening=lambda: log.info("ingest_listening", host=settings.host,
                                      port=settings.ingest_port))
