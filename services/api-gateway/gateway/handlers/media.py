"""``POST /media`` (multipart upload) and ``GET /media/{id}`` (the bytes, for their owner).

The upload is read in chunks and refused with 413 the moment it passes
``settings.media_max_bytes`` (exactly the limit is fine), so nothing larger is ever held. Its
type is judged by its bytes alone; a type no WhatsApp message can carry is a 415 that names what
was found, a file over its type's WhatsApp limit a 413 (``shared.sendable``).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import Field

from gateway import keys
from gateway.auth import principal_of
from gateway.errors import ApiError, not_found, validation_error
from gateway.idempotency import Answer, idempotent_view
from gateway.media_check import keep, media_url, refused_upload
from gateway.spec import operation
from shared.headers import IDEMPOTENCY_KEY
from shared.media import EXTENSIONS, SNIFF_BYTES, identify, sniff_file
from shared.models import Model
from shared.sendable import SENDABLE

FIELD = "file"
CHUNK = 64 * 1024
# Other form fields (e.g. a Cloud-API-style ``type``) are tolerated up to this many bytes.
MAX_OTHER_FIELDS = 16 * 1024
MULTIPART_OVERHEAD = 64 * 1024
ALLOWED_NAMES = "JPEG, PNG, MP4, MP3, OGG, PDF, DOC, DOCX"


class MediaUploaded(Model):
    """A stored media file; pass ``id`` as ``mediaId`` to ``POST /messages``."""

    id: str = Field(description="Media id.")
    url: str = Field(description="Where its owner downloads it (with the API key).")
    mime_type: str = Field(description="The type judged from the bytes, e.g. image/png.")
    size: int = Field(description="Bytes.")


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"File is larger than the {limit} byte limit ({limit // 1024 // 1024} "
                    "MiB)", "PAYLOAD_TOO_LARGE", [{"field": FIELD, "message": "too large"}])


def fields_too_large() -> ApiError:
    return ApiError(413, f"Form fields other than 'file' exceed {MAX_OTHER_FIELDS} bytes",
                    "PAYLOAD_TOO_LARGE")


def unsupported(found: str | None) -> ApiError:
    what = f"a file of type {found}" if found else "a file of unrecognised type"
    message = f"The upload is {what}; accepted types are {ALLOWED_NAMES}"
    return ApiError(415, message, "UNSUPPORTED_MEDIA_TYPE", [{
        "field": FIELD, "message": message, "found": found, "allowed": sorted(SENDABLE),
    }])


async def _read_capped(part: BodyPartReader, limit: int, error: ApiError) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while chunk := await part.read_chunk(CHUNK):
        total += len(chunk)
        if total > limit:
            raise error
        chunks.append(chunk)
    return b"".join(chunks)


async def read_upload(request: web.Request, limit: int) -> bytes:
    """The ``file`` part of a multipart body, never more than ``limit`` bytes of it."""
    if not request.content_type.startswith("multipart/form-data"):
        raise validation_error("Send the file as multipart/form-data in a field named 'file'",
                               FIELD)
    if (request.content_length or 0) > limit + MULTIPART_OVERHEAD:
        raise too_large(limit)
    try:
        data = await _file_part(await request.multipart(), limit)
    except (ValueError, HttpProcessingError) as exc:  # a malformed multipart body or part header
        raise validation_error(f"The multipart body is malformed: {exc}", FIELD) from None
    if data is None:
        raise validation_error("The multipart body has no 'file' field", FIELD)
    if not data:
        raise validation_error("The file is empty", FIELD)
    return data


async def _file_part(reader: MultipartReader, limit: int) -> bytes | None:
    data: bytes | None = None
    other = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise validation_error("Nested multipart bodies are not accepted", FIELD)
        if part.name != FIELD:
            other += len(await _read_capped(part, MAX_OTHER_FIELDS - other, fields_too_large()))
            continue
        if data is not None:
            raise validation_error("Send exactly one file per request", FIELD)
        data = await _read_capped(part, limit, too_large(limit))
    return data


async def store_media(
    app: web.Application, user_id: str, data: bytes, mime: str, sha256: str
) -> Answer:
    """Put the bytes in the media store and record them; the 201 answer."""
    settings = app[keys.SETTINGS]
    doc = await keep(app[keys.DB], app[keys.MEDIA], settings, user_id, data, mime, sha256=sha256)
    body = MediaUploaded(id=doc["_id"], url=media_url(settings, doc["_id"]), mime_type=mime,
                         size=len(data))
    return Answer(201, {"success": True, "data": body.model_dump(by_alias=True)})


@operation(summary="Upload a media file", tag="Media", scope="messages:write", multipart=True,
           response=MediaUploaded, status=201, errors=(400, 401, 403, 409, 413, 415),
           headers={
               IDEMPOTENCY_KEY: "Repeat a request safely: the same key returns the first answer."
           })
async def upload_media(request: web.Request) -> web.Response:
    """Multipart field `file`, at most `RELAY_MEDIA_MAX_BYTES` (10 MiB by default). The type is
    judged by the file's bytes, never by its name or Content-Type."""
    settings = request.app[keys.SETTINGS]
    user_id = principal_of(request).user_id
    data = await read_upload(request, settings.media_max_bytes)
    mime = sniff_file(data)
    if mime is None:
        raise unsupported(identify(data[:SNIFF_BYTES]))
    refused = refused_upload(mime, len(data))
    if refused is not None:
        raise refused

    # Hashing 10 MiB takes milliseconds: off the event loop.
    digest = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())

    async def work() -> Answer:
        return await store_media(request.app, user_id, data, mime, digest)

    replays = request.app[keys.METRICS].idempotent_replays
    return await idempotent_view(request, user_id, digest.encode(), work, replays=replays)


@operation(summary="Download a media file", tag="Media", scope="messages:read",
           produces=",".join([*sorted(EXTENSIONS), "application/octet-stream"]),
           errors=(401, 403, 404))
async def get_media(request: web.Request) -> web.Response:
    """The stored bytes with their type; only the owner's media, anyone else's id is a 404."""
    doc = await request.app[keys.DB].media.find_one(
        {"_id": request.match_info["id"], "userId": principal_of(request).user_id}
    )
    if doc is None:
        raise not_found("Media")
    data = await _fetch(request.app, doc)
    return web.Response(body=data, content_type=doc["mimeType"], headers=_download_headers(doc))


async def _fetch(app: web.Application, doc: dict[str, Any]) -> bytes:
    try:
        return bytes(await app[keys.MEDIA].get(doc["key"]))
    except (FileNotFoundError, KeyError):
        raise not_found("Media file") from None
    except Exception as exc:
        if "NoSuchKey" in type(exc).__name__ or "NoSuchKey" in str(exc):
            raise not_found("Media file") from None
        raise


def _download_headers(doc: dict[str, Any]) -> dict[str, str]:
    headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
               "Content-Disposition": f'inline; filename="{doc["key"].rsplit("/", 1)[-1]}"'}
    if doc.get("sha256"):
        headers["ETag"] = f'"{doc["sha256"]}"'
    return headers
