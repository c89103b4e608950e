"""The media store (files, or S3 through aioboto3) and file-type sniffing from bytes.

Stored objects are named ``messages/<uuid>.<ext>``; the type always comes from the bytes, never
from a file name or a ``Content-Type`` header.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Protocol

# The seed's types: images, videos, audio, documents.
EXTENSIONS: dict[str, str] = {
    "image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp",
    "video/mp4": "mp4", "video/mpeg": "mpeg",
    "audio/mpeg": "mp3", "audio/ogg": "ogg", "audio/wav": "wav",
    "application/pdf": "pdf", "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
KIND_OF: dict[str, str] = {
    mime: ("Image" if mime.startswith("image/") else "Video" if mime.startswith("video/")
           else "Audio" if mime.startswith("audio/") else "Document")
    for mime in EXTENSIONS
}
SNIFF_BYTES = 4096


def sniff(head: bytes) -> str | None:
    """The MIME type of a file from its first bytes, if it is one Relay accepts."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "audio/mp4" if brand in (b"M4A ", b"M4B ") else "video/mp4"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "video/mpeg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "application/msword"
    if head.startswith(b"PK\x03\x04") and b"word/" in head:
        return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    return None


def allowed(mime: str | None) -> bool:
    return mime in EXTENSIONS


def object_key(mime: str) -> str:
    """A unique name under ``messages/``."""
    return f"messages/{uuid.uuid4()}.{EXTENSIONS.get(mime, 'bin')}"


class MediaStore(Protocol):
    """Where media bytes live."""

    async def put(self, key: str, data: bytes, mime: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...

    async def close(self) -> None: ...


class FileMediaStore:
    """Files under a directory (the embedded default: ``.relay/media``)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, key: str) -> Path:
        path = (self._root / key).resolve()
        if not path.is_relative_to(self._root.resolve()):
            raise ValueError("media key escapes the store")
        return path

    async def put(self, key: str, data: bytes, mime: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(_write_atomic, path, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def exists(self, key: str) -> bool:
        return self._path(key).exists()

    async def close(self) -> None:
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)


class S3MediaStore:
    """An S3 bucket (any S3-compatible endpoint) through aioboto3."""

    def __init__(self, url: str, *, endpoint_url: str | None) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError("RELAY_MEDIA_STORE must look like s3://bucket/prefix")
        self.bucket = bucket
        self._prefix = prefix.strip("/")
        self._endpoint = endpoint_url
        self._client: object | None = None
        self._exit: object | None = None

    async def start(self) -> None:
        import aioboto3

        session = aioboto3.Session()
        cm = session.client("s3", endpoint_url=self._endpoint)
        self._client = await cm.__aenter__()
        self._exit = cm

    def _key(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    async def put(self, key: str, data: bytes, mime: str) -> None:
        await self._client.put_object(  # type: ignore[attr-defined]
            Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=mime
        )

    async def get(self, key: str) -> bytes:
        response = await self._client.get_object(  # type: ignore[attr-defined]
            Bucket=self.bucket, Key=self._key(key)
        )
        async with response["Body"] as stream:
            return bytes(await stream.read())

    async def exists(self, key: str) -> bool:
        try:
            await self._client.head_object(  # type: ignore[attr-defined]
                Bucket=self.bucket, Key=self._key(key)
            )
        except Exception:
            return False
        return True

    async def close(self) -> None:
        if self._exit is not None:
            await self._exit.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def open_store(media_store: str, *, data_dir: Path, endpoint_url: str | None) -> MediaStore:
    """The configured store, started."""
    if media_store.startswith("s3://"):
        store = S3MediaStore(media_store, endpoint_url=endpoint_url)
        await store.start()
        return store
    return FileMediaStore(data_dir / "media")
