"""The media store (files, or S3 through aioboto3) and file-type sniffing from bytes.

Stored objects are named ``messages/<uuid>.<ext>``; the type always comes from the bytes, never
from a file name or a ``Content-Type`` header.
"""

from __future__ import annotations

import asyncio
import io
import uuid
import zipfile
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

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


# ISO base media brands that are not MP4 video (HEIF/AVIF stills, QuickTime, 3GPP, M4A audio).
_FTYP_OTHER: dict[bytes, str] = {
    **dict.fromkeys((b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"),
                    "image/heic"),
    b"avif": "image/avif", b"avis": "image/avif", b"qt  ": "video/quicktime",
    **dict.fromkeys((b"3gp4", b"3gp5", b"3gp6", b"3g2a"), "video/3gpp"),
    **dict.fromkeys((b"M4A ", b"M4B ", b"M4P "), "audio/mp4"),
}
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _mpeg_audio_frame(head: bytes) -> bool:
    # 11 sync bits, then a version that is not "reserved" and a layer that is not 00 (ADTS AAC).
    return (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
            and head[1] & 0x18 != 0x08 and head[1] & 0x06 != 0)


def sniff(head: bytes) -> str | None:
    """The MIME type of a file from its first bytes, if it is one Relay accepts."""
    found = identify(head)
    return found if allowed(found) else None


def identify(head: bytes) -> str | None:
    """The MIME type the first bytes show, accepted or not (None when unrecognised).

    Containers are judged from the head alone: an OLE2 file counts as a Word document and a ZIP
    whose head names ``word/`` as DOCX; :func:`sniff_file` checks both against the whole file.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF":
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(
            head[8:12], "application/octet-stream")
    if head[4:8] == b"ftyp":
        return _FTYP_OTHER.get(head[8:12], "video/mp4")
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "video/mpeg"
    if head.startswith(b"ID3") or _mpeg_audio_frame(head):
        return "audio/mpeg"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(OLE2_MAGIC):
        return "application/msword"
    if head.startswith(b"PK\x03\x04"):
        return DOCX if b"word/" in head else "application/zip"
    return _other(head)


_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "application/x-msdownload"), (b"\x7fELF", "application/x-executable"),
    (b"\x1f\x8b", "application/gzip"), (b"Rar!", "application/vnd.rar"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"), (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"), (b"fLaC", "audio/flac"),
    (b"\x1aE\xdf\xa3", "video/webm"), (b"<?xml", "application/xml"),
)


def _other(head: bytes) -> str | None:
    for magic, mime in _OTHER_MAGIC:
        if head.startswith(magic):
            return mime
    start = head.lstrip()[:15].lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    return None


def sniff_file(data: bytes) -> str | None:
    """Like :func:`sniff`, with containers confirmed against the whole file.

    An OLE2 file is a Word document only with a ``WordDocument`` stream (not Excel, Outlook …);
    a ZIP is DOCX only when it holds ``word/document.xml``.
    """
    found = identify(data[:SNIFF_BYTES])
    if found == "application/msword" and "WordDocument".encode("utf-16-le") not in data:
        return None
    if found in (DOCX, "application/zip"):
        found = DOCX if _zip_has(data, "word/document.xml") else None
    return found if allowed(found) else None


def _zip_has(data: bytes, name: str) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return name in archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return False


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


class _S3Client(Protocol):
    """The few calls of an aioboto3 S3 client that the store makes (aioboto3 ships no types)."""

    async def put_object(self, **kwargs: Any) -> Any: ...
    async def get_object(self, **kwargs: Any) -> Any: ...
    async def head_object(self, **kwargs: Any) -> Any: ...


class S3MediaStore:
    """An S3 bucket (any S3-compatible endpoint) through aioboto3."""

    def __init__(self, url: str, *, endpoint_url: str | None) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError("RELAY_MEDIA_STORE must look like s3://bucket/prefix")
        self.bucket = bucket
        self._prefix = prefix.strip("/")
        self._endpoint = endpoint_url
        self._client: _S3Client | None = None
        self._exit: AbstractAsyncContextManager[Any] | None = None

    async def start(self) -> None:
        import aioboto3

        session = aioboto3.Session()
        cm = session.client("s3", endpoint_url=self._endpoint)
        self._client = await cm.__aenter__()
        self._exit = cm

    def _key(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    @property
    def _s3(self) -> _S3Client:
        if self._client is None:
            raise RuntimeError("S3MediaStore used before start()")
        return self._client

    async def put(self, key: str, data: bytes, mime: str) -> None:
        await self._s3.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=mime
        )

    async def get(self, key: str) -> bytes:
        response = await self._s3.get_object(
            Bucket=self.bucket, Key=self._key(key)
        )
        async with response["Body"] as stream:
            return bytes(await stream.read())

    async def exists(self, key: str) -> bool:
        try:
            await self._s3.head_object(
                Bucket=self.bucket, Key=self._key(key)
            )
        except Exception:
            return False
        return True

    async def close(self) -> None:
        if self._exit is not None:
            await self._exit.__aexit__(None, None, None)


async def open_store(media_store: str, *, data_dir: Path, endpoint_url: str | None) -> MediaStore:
    """The configured store, started."""
    if media_store.startswith("s3://"):
        store = S3MediaStore(media_store, endpoint_url=endpoint_url)
        await store.start()
        return store
    return FileMediaStore(data_dir / "media")
