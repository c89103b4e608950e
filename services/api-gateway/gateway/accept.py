"""Accepting a send request: the one code path behind POST /messages and the broker intake."""

from __future__ import annotations

from typing import Any


class Acceptor:
    """Validates, enforces the daily limit, stores and dispatches one outbound message."""

    def __init__(self, *, db: Any, broker: Any, outbox: Any, settings: Any, metrics: Any) -> None:
        self.db = db
        self.broker = broker
        self.outbox = outbox
        self.settings = settings
        self.metrics = metrics
