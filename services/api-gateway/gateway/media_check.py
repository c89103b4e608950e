"""Media checked when a message is accepted, so that what WhatsApp refuses never gets a 202.

A ``mediaId`` must name the caller's upload, of a type and size the message type takes
(``shared.sendable``). A ``mediaUrl`` is fetched at once through the sender's SSRF-guarded
fetcher (``sender.media.MediaFetcher``: vetted addresses only, redirects checked, size capped,
type from the bytes), checked the same way and kept in the media store; the message then carries
the stored copy (``mediaId`` and its ``mediaUrl``), so the sender never fetches it again.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Protocol

import structlog

from gateway.errors import ApiError, validation_error
from sender.media import FetchedMedia, MediaFetcher, MediaRefused
from shared.db import Database
from shared.media import MediaStore, object_key
from shared.models import utcnow
from shared.sendable import SENDABLE, kind_refusal, refusal, size_refusal
from shared.settings import Settings

log = structlog.get_logger("relay.gateway.media")


class Fetcher(Protocol):
    """Fetches ``mediaUrl`` bytes behind the SSRF guard (``sender.media.MediaFetcher``)."""

    async def fetch(self, url: str, message_type: str) -> FetchedMedia: ...


def media_url(settings: Settings, media_id: str) -> str:
    """Where the owner downloads stored media (with the API key)."""
    return f"{settings.gateway_url}/api/v1/media/{media_id}"


async def keep(db: Database, store: MediaStore, settings: Settings, user_id: str, data: bytes,
               mime: str, **extra: Any) -> dict[str, Any]:
    """Put ``data`` in the media store and record it; the ``media`` document."""
    key = object_key(mime)
    await store.put(key, data, mime)
    doc = {"_id": str(uuid.uuid4()), "userId": user_id, "key": key, "mimeType": mime,
           "size": len(data), "sha256": extra.pop("sha256", None)
           or hashlib.sha256(data).hexdigest(), "createdAt": utcnow(), **extra}
    await db.media.insert_one(doc)
    return doc


class MediaCheck:
    """The media rules of accepting a message (``mediaId`` and ``mediaUrl``)."""

    def __init__(self, *, db: Database, store: MediaStore, settings: Settings,
                 fetcher: Fetcher | None = None) -> None:
        self.db = db
        self.store = store
        self.settings = settings
        self.fetcher = fetcher or MediaFetcher(
            allowlist=settings.media_fetch_allowlist, max_bytes=settings.media_max_bytes,
            timeout=settings.send_timeout_seconds)

    async def stored(self, user_id: str, media_id: str, message_type: str) -> None:
        """The upload ``media_id`` fits a ``message_type`` message, or a 400 saying why."""
        media = await self.db.media.find_one({"_id": media_id, "userId": user_id},
                                             projection={"mimeType": 1, "size": 1})
        if media is None:
            raise validation_error("mediaId does not name media you uploaded", "mediaId")
        why = refusal(str(media.get("mimeType")), int(media.get("size") or 0), message_type)
        if why is not None:
            raise validation_error(f"mediaId: {why}", "mediaId")

    async def fetched(self, user_id: str, url: str, message_type: str) -> dict[str, Any]:
        """Fetch ``url``, check it fits a ``message_type`` message and keep it; the stored
        ``media`` document, or a 400 naming what is wrong."""
        try:
            got = await self.fetcher.fetch(url, message_type)
        except MediaRefused as exc:
            raise validation_error(f"mediaUrl: {exc}", "mediaUrl") from None
        why = refusal(got.mime_type, len(got.data), message_type)
        if why is not None:
            raise validation_error(f"mediaUrl: {why}", "mediaUrl")
        doc = await keep(self.db, self.store, self.settings, user_id, got.data, got.mime_type,
                         source="mediaUrl", sourceUrl=url)
        log.info("media_fetched", media_id=doc["_id"], mime=got.mime_type, size=len(got.data))
        return doc


def refused_upload(mime: str, size: int) -> ApiError | None:
    """An upload no message type can send (415) or too large for its type (413), or None."""
    why = kind_refusal(mime)
    if why is not None:
        return ApiError(415, f"The upload is {mime}: {why}", "UNSUPPORTED_MEDIA_TYPE", [{
            "field": "file", "message": why, "found": mime, "allowed": sorted(SENDABLE)}])
    why = size_refusal(mime, size)
    if why is not None:
        return ApiError(413, why, "PAYLOAD_TOO_LARGE", [{"field": "file", "message": why}])
    return None
