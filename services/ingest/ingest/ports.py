"""The ports ingest depends on; :class:`shared.broker.Broker` and friends are the adapters."""

from __future__ import annotations

from typing import Any, Protocol


class Publisher(Protocol):
    """What the webhook endpoint needs from the broker: a confirmed publish."""

    @property
    def is_connected(self) -> bool: ...

    async def publish(
        self, exchange: str, routing_key: str, body: bytes, *,
        headers: dict[str, Any] | None = None, timeout: float = 10.0,
    ) -> None: ...


class Deferrer(Protocol):
    """What the worker needs from the broker to retry later or park a payload."""

    async def defer(
        self, routing_key: str, body: bytes, *, delay_ms: float, headers: dict[str, Any]
    ) -> None: ...

    async def publish(
        self, exchange: str, routing_key: str, body: bytes, *,
        headers: dict[str, Any] | None = None, timeout: float = 10.0,
    ) -> None: ...
