"""Inbound media: resolve the WhatsApp media id, download it with the account's token, judge
the bytes, store them, and record a ``media`` document the gateway serves.

A failure never loses the message: :meth:`MediaFetcher.fetch` returns a :class:`FetchedMedia`
with ``error`` set, and the message is stored with ``mediaUrl`` None and that ``errorMessage``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from shared.cloudapi import CloudApiError, ErrorClass
from shared.db import Database
from shared.media import MediaStore, object_key, sniff_file
from shared.models import utcnow
from shared.secrets import TokenCipher

log = structlog.get_logger("relay.ingest.media")

UNKNOWN_MIME = "application/octet-stream"


class MediaSource(Protocol):
    """The part of :class:`shared.cloudapi.CloudApi` inbound media needs."""

    async def resolve_media(self, media_id: str, token: str) -> dict[str, Any]: ...

    async def download(self, url: str, token: str, *, max_bytes: int) -> bytes: ...


@dataclass(frozen=True)
class FetchedMedia:
    media_id: str | None = None
    url: str | None = None
    error: str | None = None
    transient: bool = False  # worth another try later (Cloud API away, store away)


class MediaFetcher:
    """Resolve, download, sniff, store, record."""

    def __init__(
        self, *, db: Database, source: MediaSource, store: MediaStore, cipher: TokenCipher,
        max_bytes: int, gateway_url: str,
    ) -> None:
        self._db = db
        self._source = source
        self._store = store
        self._cipher = cipher
        self._max_bytes = max_bytes
        self._gateway_url = gateway_url.rstrip("/")

    async def fetch(self, account: dict[str, Any], whatsapp_media_id: str) -> FetchedMedia:
        """Bring one media file in; on any failure, say why instead of raising."""
        try:
            token = self._cipher.decrypt(account["accessToken"])
            data, declared_sha = await self._download(whatsapp_media_id, token)
        except CloudApiError as exc:
            log.warning("inbound_media_failed", account_id=account.get("_id"), error=str(exc))
            return FetchedMedia(error=f"Media could not be downloaded from WhatsApp: {exc}",
                                transient=exc.kind == ErrorClass.RETRY)
        except (ValueError, KeyError) as exc:
            log.warning("inbound_media_failed", account_id=account.get("_id"), error=str(exc))
            return FetchedMedia(error=f"Media could not be downloaded from WhatsApp: {exc}")
        if declared_sha and declared_sha.lower() != hashlib.sha256(data).hexdigest():
            return FetchedMedia(error="Media download did not match WhatsApp's sha256")
        return await self._keep(account["userId"], data)

    async def _download(self, media_id: str, token: str) -> tuple[bytes, str | None]:
        info = await self._source.resolve_media(media_id, token)
        url = info.get("url")
        if not isinstance(url, str) or not url:
            raise CloudApiError("media resolve answer had no url")
        declared = _int(info.get("file_size"))
        if declared is not None and declared > self._max_bytes:
            raise CloudApiError(f"media larger than {self._max_bytes} bytes")
        data = await self._source.download(url, token, max_bytes=self._max_bytes)
        sha = info.get("sha256")
        return data, sha if isinstance(sha, str) else None

    async def _keep(self, user_id: str, data: bytes) -> FetchedMedia:
        mime = sniff_file(data) or UNKNOWN_MIME
        key = object_key(mime)
        try:
            await self._store.put(key, data, mime)
        except Exception as exc:  # any store backend: the message must still be kept
            log.warning("inbound_media_store_failed", error=repr(exc)[:300])
            return FetchedMedia(error="Media could not be stored", transient=True)
        media_id = str(uuid.uuid4())
        await self._db.media.insert_one({
            "_id": media_id, "userId": user_id, "key": key, "mimeType": mime, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "createdAt": utcnow(),
        })
        return FetchedMedia(media_id=media_id, url=f"{self._gateway_url}/api/v1/media/{media_id}")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
