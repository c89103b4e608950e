"""What WhatsApp takes per message type (reference §3): the refusals name the type and limit."""

from __future__ import annotations

import pytest

from gateway.media_check import refused_upload
from shared.sendable import MB, refusal

MIB = 1024 * 1024


@pytest.mark.parametrize(("mime", "kind"), [
    ("image/gif", "Image"), ("image/webp", "Image"), ("audio/wav", "Audio"),
    ("video/mpeg", "Video"), ("image/png", "Video"), ("application/pdf", "Image"),
])
def test_types_meta_refuses_name_the_type_and_the_limit(mime: str, kind: str) -> None:
    why = refusal(mime, 100, kind)
    assert why is not None and mime in why and f"{kind} messages take" in why and " MB" in why


@pytest.mark.parametrize(("mime", "kind", "limit"), [
    ("image/jpeg", "Image", 5), ("image/png", "Image", 5), ("video/mp4", "Video", 16),
    ("audio/mpeg", "Audio", 16), ("audio/ogg", "Audio", 16), ("application/pdf", "Document", 100),
])
def test_each_limit_is_inclusive(mime: str, kind: str, limit: int) -> None:
    assert refusal(mime, limit * MB, kind) is None
    why = refusal(mime, limit * MB + 1, kind)
    assert why is not None and f"at most {limit} MB" in why


def test_uploads_refuse_what_no_message_can_carry() -> None:
    gif = refused_upload("image/gif", 10)
    assert gif is not None and gif.status == 415 and "image/gif" in gif.message
    big = refused_upload("image/jpeg", 5 * MIB + 1)
    assert big is not None and big.status == 413 and "5 MB" in big.message
    assert refused_upload("application/pdf", 10 * MIB) is None
