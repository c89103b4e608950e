"""Send payloads are checked as Meta checks them: every refusal is code 100, HTTP 400."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.errors import SimError
from simulator.validation import validate_read, validate_send

pytestmark = pytest.mark.unit


def _payload(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"messaging_product": "whatsapp", "to": "+15551234567",
                            "type": "text", "text": {"body": "hi"}}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def _refusal(payload: Any) -> SimError:
    with pytest.raises(SimError) as caught:
        validate_send(payload)
    return caught.value


class TestAccepted:
    """Well-formed payloads of every kind pass."""

    @pytest.mark.parametrize("payload", [
        _payload(),
        _payload(text={"body": "x" * 4096, "preview_url": True}),
        _payload(type="image", image={"id": "123", "caption": "c" * 1024}, text=None),
        _payload(type="document", text=None,
                 document={"link": "https://example.com/a.pdf", "filename": "a.pdf"}),
        _payload(type="template", text=None,
                 template={"name": "order_update", "language": {"code": "en_US"}}),
        _payload(biz_opaque_callback_data="m" * 512),
    ])
    def test_passes(self, payload: dict[str, Any]) -> None:
        validate_send(payload)


class TestRefused:
    """Missing or out-of-range fields are refused with code 100 and a message naming them."""

    @pytest.mark.parametrize(("payload", "mentions"), [
        ("not an object", "JSON object"),
        (_payload(messaging_product=None), "messaging_product"),
        (_payload(to=None), "to"),
        (_payload(to="call me"), "phone number"),
        (_payload(type=None), "type"),
        (_payload(type="hologram"), "type"),
        (_payload(text={"body": ""}), "text['body']"),
        (_payload(text={"body": "x" * 4097}), "4096"),
        (_payload(type="image", text=None, image={}), "exactly one"),
        (_payload(type="image", text=None, image={"id": "1", "link": "https://a/b"}),
         "exactly one"),
        (_payload(type="video", text=None, video={"link": "ftp://a/b"}), "HTTP"),
        (_payload(type="image", text=None, image={"id": "1", "caption": "c" * 1025}), "1024"),
        (_payload(type="image", text=None, image={"id": "1", "filename": "a.jpg"}), "documents"),
        (_payload(type="template", text=None, template={"name": "t"}), "language"),
        (_payload(biz_opaque_callback_data="m" * 513), "512"),
    ])
    def test_code_100(self, payload: Any, mentions: str) -> None:
        error = _refusal(payload)
        assert (error.code, error.http_status) == (100, 400)
        assert mentions in error.details

    def test_body_is_meta_shape(self) -> None:
        body = _refusal(_payload(to=None)).body()["error"]
        assert body["message"].startswith("(#100) ")
        assert body["type"] == "OAuthException"
        assert body["error_data"]["messaging_product"] == "whatsapp"
        assert set(body) >= {"message", "type", "code", "error_data", "fbtrace_id"}


class TestMarkRead:
    """A mark-as-read needs a ``message_id``."""

    def test_returns_message_id(self) -> None:
        assert validate_read({"messaging_product": "whatsapp", "message_id": "wamid.A"}) \
            == "wamid.A"

    def test_missing_message_id(self) -> None:
        with pytest.raises(SimError) as caught:
            validate_read({"messaging_product": "whatsapp", "status": "read"})
        assert caught.value.code == 100
