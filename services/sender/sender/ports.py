"""The sender's ports: what it needs from the Cloud API, the broker and the media fetcher."""

from __future__ import annotations

from typing import Any, Protocol

from sender.media import FetchedMedia


class CloudPort(Protocol):
    """The WhatsApp Cloud API as the sender uses it (``shared.cloudapi.CloudApi``)."""

    async def send(self, phone_number_id: str, token: str, payload: dict[str, Any]) -> str: ...

    async def mark_read(self, phone_number_id: str, token: str, wamid: str) -> None: ...

    async def upload_media(
        self, phone_number_id: str, token: str, data: bytes, mime_type: str, filename: str
    ) -> str: ...


class BrokerPort(Protocol):
    """Publishing as the sender uses it (``shared.broker.Broker``)."""

    shards: int

    async def publish(self, exchange: str, routing_key: str, body: Any, **kwargs: Any) -> None: ...

    async def defer(
        self, routing_key: str, body: bytes, *, delay_ms: float, headers: dict[str, Any]
    ) -> None: ...


class FetcherPort(Protocol):
    """External media (``mediaUrl``) behind the SSRF guard (``sender.media.MediaFetcher``)."""

    async def fetch(self, url: str, message_type: str) -> FetchedMedia: ...
