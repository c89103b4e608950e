"""Minimal, valid-looking files of every media type Relay accepts, and some it refuses.

Each is just enough of the real format for a sniffer (and most parsers) to recognise it.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib


def png(extra: bytes = b"") -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x00")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b"") + extra)


def jpeg(size: int | None = None) -> bytes:
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    head = b"\xff\xd8\xff\xe0" + struct.pack(">H", 16) + app0
    tail = b"\xff\xd9"
    if size is None:
        return head + tail
    return head + b"\x00" * (size - len(head) - len(tail)) + tail


def gif() -> bytes:
    return b"GIF89a" + struct.pack("<HH", 1, 1) + b"\x00\x00\x00" + b"\x3b"


def webp() -> bytes:
    payload = b"WEBP" + b"VP8L" + struct.pack("<I", 5) + b"\x2f\x00\x00\x00\x00" + b"\x00"
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def wav() -> bytes:
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 8000, 1, 8)
    data = b"data" + struct.pack("<I", 2) + b"\x80\x80"
    body = b"WAVE" + fmt + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def mp4() -> bytes:
    ftyp = struct.pack(">I", 24) + b"ftyp" + b"isom" + struct.pack(">I", 512) + b"isomiso2"
    return ftyp + struct.pack(">I", 8) + b"mdat"


def m4a() -> bytes:
    return struct.pack(">I", 20) + b"ftyp" + b"M4A " + struct.pack(">I", 0) + b"isom"


def heic() -> bytes:
    return struct.pack(">I", 20) + b"ftyp" + b"heic" + struct.pack(">I", 0) + b"mif1"


def mpeg_video() -> bytes:
    return b"\x00\x00\x01\xba" + b"\x44\x00\x04\x00\x04\x01\x01\x89\xc3\xf8" + b"\x00\x00\x01\xb9"


def mp3() -> bytes:
    id3 = b"ID3\x03\x00\x00" + b"\x00\x00\x00\x00"
    frame = b"\xff\xfb\x90\x64" + b"\x00" * 413
    return id3 + frame


def mp3_without_tag() -> bytes:
    return b"\xff\xfb\x90\x64" + b"\x00" * 413


def aac_adts() -> bytes:
    return b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 16


def ogg() -> bytes:
    return b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x1e\x01vorbis" + b"\x00" * 23


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _ole2(stream_name: str) -> bytes:
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + struct.pack("<HH", 0x3E, 3)
    header += b"\xfe\xff" + struct.pack("<H", 9) + b"\x00" * (512 - len(header) - 4)
    entry = "Root Entry".encode("utf-16-le").ljust(64, b"\x00")
    entry += stream_name.encode("utf-16-le").ljust(64, b"\x00")
    return header + entry.ljust(512, b"\x00")


def doc() -> bytes:
    return _ole2("WordDocument")


def xls() -> bytes:
    return _ole2("Workbook")


def _zip(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.writestr(name, "<x/>")
    return buffer.getvalue()


def docx() -> bytes:
    return _zip(["[Content_Types].xml", "_rels/.rels", "word/document.xml"])


def xlsx() -> bytes:
    return _zip(["[Content_Types].xml", "_rels/.rels", "xl/workbook.xml"])


def exe() -> bytes:
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 50 + b"PE\x00\x00"


ACCEPTED: dict[str, bytes] = {
    "image/jpeg": jpeg(), "image/png": png(), "image/gif": gif(), "image/webp": webp(),
    "video/mp4": mp4(), "video/mpeg": mpeg_video(),
    "audio/mpeg": mp3(), "audio/ogg": ogg(), "audio/wav": wav(),
    "application/pdf": pdf(), "application/msword": doc(),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": docx(),
}
