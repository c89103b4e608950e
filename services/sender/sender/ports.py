"""The sender's ports: the Cloud API, the broker, accounts, the media fetcher and the daily send
counts (messages go through ``shared.messages.MessageStore``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sender.accounts import Account
from sender.media import FetchedMedia
from shared.broker import DeferrerPort


class CloudPort(Protocol):
    """The WhatsApp Cloud API as the sender uses it (``shared.cloudapi.CloudApi``)."""

    async def send(self, phone_number_id: str, token: str, payload: dict[str, Any]) -> str: ...

    async def mark_read(self, phone_number_id: str, token: str, wamid: str) -> None: ...

    async def upload_media(
        self, phone_number_id: str, token: str, data: bytes, mime_type: str, filename: str
    ) -> str: ...


class BrokerPort(DeferrerPort, Protocol):
    """Publishing and deferring as the sender uses it (``shared.broker.Broker``)."""

    shards: int


class AccountsPort(Protocol):
    """Accounts as the sender reads them (``sender.accounts.Accounts``, cached briefly)."""

    async def get(self, account_id: str) -> Account | None: ...

    async def disconnect(self, account_id: str, reason: str) -> None: ...


class FetcherPort(Protocol):
    """External media (``mediaUrl``) behind the SSRF guard (``sender.media.MediaFetcher``)."""

    async def fetch(self, url: str, message_type: str) -> FetchedMedia: ...


class DailySendsPort(Protocol):
    """Units of an account's daily limit per UTC send day, one per Cloud API send call
    (``sender.daily_store.MongoDailySends``; ``sender.daily`` says when they are taken)."""

    async def take(self, account_id: str, day: str, limit: int) -> bool:
        """One unit of ``day`` if fewer than ``limit`` are taken (atomically, in every process)."""
        ...

    async def give_back(self, account_id: str, day: str) -> None:
        """Return a unit that no call used."""
        ...


class ContactWindowsPort(Protocol):
    """Contacts' 24-hour customer service windows (``sender.windows.MongoContactWindows``)."""

    async def expires_at(self, contact_id: str) -> datetime | None:
        """The contact's ``windowExpiresAt`` (None: it never wrote, or it does not exist)."""
        ...
