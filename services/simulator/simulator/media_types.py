"""Media the Cloud API accepts: MIME types and size limits per message type (reference §3)."""

from __future__ import annotations

MB = 1024 * 1024
DOCUMENT_MIMES = (
    "text/plain", "application/pdf", "application/msword", "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
)
MEDIA_KINDS: dict[str, tuple[tuple[str, ...], int]] = {
    "image": (("image/jpeg", "image/png"), 5 * MB),
    "video": (("video/mp4", "video/3gpp"), 16 * MB),
    "audio": (("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"), 16 * MB),
    "document": (DOCUMENT_MIMES, 100 * MB),
    "sticker": (("image/webp",), 500 * 1024),
}
LARGEST = max(limit for _, limit in MEDIA_KINDS.values())


def base_mime(mime: str) -> str:
    """``audio/ogg; codecs=opus`` → ``audio/ogg``."""
    return mime.split(";", 1)[0].strip().lower()


def limit_for(mime: str) -> int | None:
    """The largest file accepted for ``mime``, or ``None`` if Meta refuses the type."""
    wanted = base_mime(mime)
    for mimes, limit in MEDIA_KINDS.values():
        if wanted in mimes:
            return limit
    return None
