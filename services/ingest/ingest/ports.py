"""The ports ingest depends on; :class:`shared.broker.Broker` and friends are the adapters."""

from __future__ import annotations

from typing import Protocol

from shared.broker import DeferrerPort, PublisherPort


class Publisher(PublisherPort, Protocol):
    """What the webhook endpoint needs from the broker: a confirmed publish."""

    @property
    def is_connected(self) -> bool: ...


class Deferrer(DeferrerPort, Protocol):
    """What the worker needs from the broker to retry later or park a payload."""
