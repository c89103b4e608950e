"""The broker command intake: ``relay.commands`` / ``message.send`` → the same accept path."""

from __future__ import annotations

from typing import Any


class Intake:
    """Consumes ``relay.commands.intake`` inside the gateway process."""

    def __init__(self, *, acceptor: Any, broker: Any, outbox: Any, metrics: Any) -> None:
        self.acceptor = acceptor
        self.broker = broker
        self.outbox = outbox
        self.metrics = metrics

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
