"""Webhook payloads in the shape Meta sends them (reference/whatsapp-cloud-api.md §4), for the
ingest tests: one builder per item, :func:`webhook` to batch them, :func:`signed` to sign."""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared.secrets import signature

TS = 1_749_416_383  # a fixed webhook time (Unix seconds)


def wamid() -> str:
    return f"wamid.HBgL{uuid.uuid4().hex.upper()}"


def value(
    phone_number_id: str, *, messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None, contacts: list[dict[str, Any]] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One ``changes[].value``."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
    }
    for key, items in (("contacts", contacts), ("messages", messages), ("statuses", statuses),
                       ("errors", errors)):
        if items is not None:
            body[key] = items
    return body


def webhook(*values: dict[str, Any], entries: int = 1) -> dict[str, Any]:
    """A payload spreading ``values`` over ``entries`` entries (one change per value)."""
    buckets: list[list[dict[str, Any]]] = [[] for _ in range(entries)]
    for index, item in enumerate(values):
        buckets[index % entries].append({"field": "messages", "value": item})
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": f"10229012934039{n}", "changes": changes}
                  for n, changes in enumerate(buckets)],
    }


def contact(wa_id: str, name: str) -> dict[str, Any]:
    return {"profile": {"name": name}, "wa_id": wa_id}


def message(kind: str, body: dict[str, Any] | None = None, *, sender: str = "16505551234",
            id: str | None = None, ts: int = TS, **extra: Any) -> dict[str, Any]:
    """One ``messages[]`` item of type ``kind`` with ``body`` under that key."""
    item: dict[str, Any] = {"from": sender, "id": id or wamid(), "timestamp": str(ts),
                            "type": kind, **extra}
    if body is not None:
        item[kind] = body
    return item


def text(body: str = "hello", **kwargs: Any) -> dict[str, Any]:
    return message("text", {"body": body}, **kwargs)


def status(id: str, name: str, *, ts: int = TS, recipient: str = "16505551234",
           errors: list[dict[str, Any]] | None = None,
           callback: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": id, "status": name, "timestamp": str(ts),
                            "recipient_id": recipient}
    if callback is not None:
        item["biz_opaque_callback_data"] = callback
    if errors is not None:
        item["errors"] = errors
    return item


RE_ENGAGEMENT = {"code": 131047, "title": "Re-engagement message",
                 "message": "Re-engagement message",
                 "error_data": {"details": "Customer window closed."}}

# One recorded-shape sample of every message type: (type, body, extra fields).
SAMPLES: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {
    "text": ({"body": "Where is my order?"}, {}),
    "image": ({"id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "b1f0",
               "caption": "broken part"}, {}),
    "video": ({"id": "1479537139650974", "mime_type": "video/mp4", "caption": "unboxing"}, {}),
    "audio": ({"id": "1479537139650975", "mime_type": "audio/ogg; codecs=opus",
               "voice": True}, {}),
    "document": ({"id": "1479537139650976", "mime_type": "application/pdf",
                  "filename": "invoice-42.pdf", "caption": "my invoice"}, {}),
    "sticker": ({"id": "1479537139650977", "mime_type": "image/webp", "animated": False}, {}),
    "location": ({"latitude": 52.52, "longitude": 13.405, "name": "Office",
                  "address": "Alexanderplatz 1, Berlin"}, {}),
    "contacts": (None, {"contacts": [{"name": {"formatted_name": "Grace Hopper"},
                                      "phones": [{"phone": "+1 555 0100", "type": "CELL"}]}]}),
    "interactive": ({"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}, {}),
    "button": ({"payload": "CONFIRM", "text": "Confirm"}, {}),
    "reaction": ({"message_id": "wamid.HBgLREACTEDTO", "emoji": "👍"}, {}),
    "order": ({"catalog_id": "cat-1", "text": "asap",
               "product_items": [{"product_retailer_id": "sku-1", "quantity": 2,
                                  "item_price": 10, "currency": "EUR"}]}, {}),
    "system": ({"body": "User changed number", "type": "user_changed_number",
                "wa_id": "16505550000"}, {}),
    "unknown": (None, {"errors": [{"code": 131051, "title": "Message type unknown",
                                   "message": "Message type unknown"}]}),
}
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")


def sample(kind: str, **kwargs: Any) -> dict[str, Any]:
    body, extra = SAMPLES[kind]
    return message(kind, body, **{**extra, **kwargs})


def signed(payload: dict[str, Any] | bytes, secret: str) -> tuple[bytes, dict[str, str]]:
    """The raw body and the headers Meta would send with it."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return raw, {"X-Hub-Signature-256": signature(secret, raw),
                 "Content-Type": "application/json"}


# Inbound kinds Relay models beyond the five native ones, and ones it keeps as Unsupported.
def button_reply(id: str = "yes", title: str = "Yes", **kwargs: Any) -> dict[str, Any]:
    """A tap on one of an interactive message's reply buttons."""
    return message("interactive", {"type": "button_reply",
                                   "button_reply": {"id": id, "title": title}}, **kwargs)


def list_reply(id: str = "row-2", title: str = "Tomorrow", description: str | None = "9-12",
               **kwargs: Any) -> dict[str, Any]:
    """A choice from an interactive list message."""
    reply = {"id": id, "title": title, **({"description": description} if description else {})}
    return message("interactive", {"type": "list_reply", "list_reply": reply}, **kwargs)


def quick_reply(text: str = "Confirm", payload: str = "CONFIRM", **kwargs: Any) -> dict[str, Any]:
    """A tap on a template's quick-reply button (``type: button``)."""
    return message("button", {"payload": payload, "text": text},
                   context={"from": "15550783881", "id": wamid()}, **kwargs)


def location(latitude: float = 52.52, longitude: float = 13.405, name: str | None = "Office",
             address: str | None = "Alexanderplatz 1, Berlin", **kwargs: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    body.update({k: v for k, v in (("name", name), ("address", address)) if v is not None})
    return message("location", body, **kwargs)


def reaction(reacted: str, emoji: str = "👍", **kwargs: Any) -> dict[str, Any]:
    """A reaction to the message whose wamid is ``reacted`` (empty ``emoji``: removed)."""
    return message("reaction", {"message_id": reacted, "emoji": emoji}, **kwargs)


def unknown_kind(**kwargs: Any) -> dict[str, Any]:
    """What Meta sends for a kind the Cloud API does not support."""
    return message("unknown", None, errors=[{"code": 131051, "title": "Message type unknown",
                                             "message": "Message type unknown"}], **kwargs)
