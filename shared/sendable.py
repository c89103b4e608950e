"""What WhatsApp's Cloud API takes as media, per Relay message type (reference §3).

Relay stores more types than Meta sends (the seed's GIF, WebP, WAV and MPEG video); a file that
no message type can carry, or that is over its type's limit, is refused when it is uploaded or
accepted rather than failing at send time. Types Relay does not recognise from bytes (AAC, AMR,
3GPP, Excel, PowerPoint, plain text) are not listed.
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class Kind:
    """One media message type: the MIME types Meta takes for it and its size limit."""

    name: str
    mimes: tuple[str, ...]
    names: str
    max_bytes: int

    @property
    def limit_text(self) -> str:
        return f"{self.max_bytes // MB} MB"


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("Image", ("image/jpeg", "image/png"), "JPEG or PNG", 5 * MB),
    Kind("Video", ("video/mp4",), "MP4", 16 * MB),
    Kind("Audio", ("audio/mpeg", "audio/ogg"), "MP3 or OGG", 16 * MB),
    Kind("Document", ("application/pdf", "application/msword", DOCX), "PDF, DOC or DOCX",
         100 * MB),
)}
SENDABLE: dict[str, Kind] = {mime: kind for kind in KINDS.values() for mime in kind.mimes}
SENDABLE_NAMES = "; ".join(f"{k.name}: {k.names} up to {k.limit_text}" for k in KINDS.values())


def kind_refusal(mime: str) -> str | None:
    """Why no WhatsApp message can carry a ``mime`` file (None when one can)."""
    if mime in SENDABLE:
        return None
    return f"WhatsApp does not accept {mime} media (it takes {SENDABLE_NAMES})"


def size_refusal(mime: str, size: int) -> str | None:
    """Why a sendable ``mime`` file of ``size`` bytes is too large (None when it fits)."""
    kind = SENDABLE[mime]
    if size <= kind.max_bytes:
        return None
    return (f"{kind.name} media must be at most {kind.limit_text} on WhatsApp; this {mime} file "
            f"is {size / MB:.1f} MB")


def refusal(mime: str, size: int, message_type: str) -> str | None:
    """Why WhatsApp would refuse a ``mime`` file of ``size`` bytes in a ``message_type``
    message (None when it takes it)."""
    kind = KINDS.get(message_type)
    if kind is None:
        return f"{message_type} messages carry no media"
    if mime not in kind.mimes:
        return (f"{message_type} messages take {kind.names} up to {kind.limit_text} on "
                f"WhatsApp; this file is {mime}")
    return size_refusal(mime, size)
