"""How each WhatsApp message type becomes one of Relay's message types (docs/INGEST.md).

Text, image, video, audio and document map to themselves; interactive replies (``button_reply``,
``list_reply``, ``nfm_reply``) and a template's quick-reply ``button`` become ``Interactive`` with
the reply under ``interactive``; ``location`` becomes ``Location``; ``reaction`` becomes
``Reaction``. Every other kind (sticker, contacts, order, system, unknown, anything new) is
``Unsupported`` with Meta's whole message object kept in ``raw`` and a short readable
``content``: nothing is dropped. ``whatsappType`` always holds Meta's type.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.models import MessageType

MEDIA_TYPES: dict[str, MessageType] = {
    "image": MessageType.IMAGE, "video": MessageType.VIDEO, "audio": MessageType.AUDIO,
    "document": MessageType.DOCUMENT,
}
# Kinds whose media Relay fetches and stores (a sticker is Unsupported, its image kept anyway).
MEDIA_KINDS = frozenset({*MEDIA_TYPES, "sticker"})
NATIVE = frozenset({"text", "image", "video", "audio", "document"})
# Kinds that are WhatsApp's own notifications, not the user writing: they open no customer window.
NOT_FROM_USER = frozenset({"system"})
INTERACTIVE_REPLIES = ("button_reply", "list_reply", "nfm_reply")


@dataclass(frozen=True)
class Mapped:
    whatsapp_type: str
    message_type: MessageType
    content: str | None
    media_id: str | None = None
    # The kind-specific part as stored: {"interactive": {...}}, {"location": {...}},
    # {"reaction": {...}} or {"raw": <Meta's message object>}.
    parts: dict[str, Any] = field(default_factory=dict)


def map_message(raw: dict[str, Any]) -> Mapped:
    """Relay's type, readable content, media id and kind-specific part of one ``messages[]``
    item."""
    kind = str(raw.get("type") or "unknown")
    found = raw.get(kind)
    body: dict[str, Any] = found if isinstance(found, dict) else {}
    if kind == "text":
        return Mapped(kind, MessageType.TEXT, _str(body.get("body")))
    if kind in MEDIA_TYPES:
        caption = _str(body.get("caption"))
        if kind == "document" and not caption:
            caption = _str(body.get("filename"))
        return Mapped(kind, MEDIA_TYPES[kind], caption, _str(body.get("id")))
    modelled = MODELLED.get(kind)
    mapped = modelled(kind, body) if modelled else None
    if mapped is not None:
        return mapped
    describe = DESCRIBERS.get(kind, _unsupported)
    media_id = _str(body.get("id")) if kind in MEDIA_KINDS else None
    return Mapped(kind, MessageType.UNSUPPORTED, describe(body, raw)[:4096], media_id,
                  {"raw": raw})


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _text(value: Any, limit: int = 4096) -> str | None:
    return str(value)[:limit] if isinstance(value, str | int | float) and value != "" else None


def _interactive(kind: str, body: dict[str, Any]) -> Mapped | None:
    """A reply to reply buttons, a list or a flow; None for an interactive kind Relay does not
    model (stored Unsupported)."""
    reply_type = body.get("type")
    reply = body.get(reply_type) if isinstance(reply_type, str) else None
    if reply_type not in INTERACTIVE_REPLIES or not isinstance(reply, dict):
        return None
    if reply_type == "nfm_reply":
        part = {"type": reply_type, "name": _text(reply.get("name")),
                "body": _text(reply.get("body")), "responseJson": _text(reply.get("response_json"))}
        content = part["body"] or part["name"]
    else:
        part = {"type": reply_type, "id": _text(reply.get("id")),
                "title": _text(reply.get("title"))}
        if reply_type == "list_reply":
            part["description"] = _text(reply.get("description"))
        content = part["title"] or part["id"]
    return Mapped(kind, MessageType.INTERACTIVE, content, parts={"interactive": part})


def _button(kind: str, body: dict[str, Any]) -> Mapped | None:
    """A quick-reply button of a template: ``button.text`` and ``button.payload``."""
    text, payload = _text(body.get("text")), _text(body.get("payload"))
    if text is None and payload is None:
        return None
    return Mapped(kind, MessageType.INTERACTIVE, text or payload,
                  parts={"interactive": {"type": "button", "text": text, "payload": payload}})


def _location(kind: str, body: dict[str, Any]) -> Mapped | None:
    latitude, longitude = _coordinate(body.get("latitude"), 90), _coordinate(
        body.get("longitude"), 180)
    if latitude is None or longitude is None:
        return None
    name, address = _text(body.get("name"), 1000), _text(body.get("address"), 1000)
    place = ", ".join(part for part in (name, address) if part)
    return Mapped(kind, MessageType.LOCATION, place or f"{latitude},{longitude}", parts={
        "location": {"latitude": latitude, "longitude": longitude, "name": name,
                     "address": address}})


def _coordinate(value: Any, bound: float) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and -bound <= number <= bound else None


def _reaction(kind: str, body: dict[str, Any]) -> Mapped | None:
    """``messageId`` (Relay's id of the reacted message) is filled by the handler, which looks
    the wamid up; an empty ``emoji`` is a removed reaction."""
    target = _text(body.get("message_id"), 512)
    if target is None:
        return None
    emoji = body.get("emoji")
    emoji = emoji[:32] if isinstance(emoji, str) else ""
    return Mapped(kind, MessageType.REACTION, emoji or None, parts={
        "reaction": {"messageId": None, "emoji": emoji, "whatsappMessageId": target}})


MODELLED: dict[str, Callable[[str, dict[str, Any]], Mapped | None]] = {
    "interactive": _interactive, "button": _button, "location": _location,
    "reaction": _reaction,
}


def _sticker(_: dict[str, Any], __: dict[str, Any]) -> str:
    return "Sticker"


def _contacts(_: dict[str, Any], raw: dict[str, Any]) -> str:
    people = []
    for person in _dicts(raw.get("contacts")):
        name = _dict(person.get("name")).get("formatted_name") or "unnamed"
        phones = [p.get("phone") for p in _dicts(person.get("phones"))]
        people.append(f"{name} ({', '.join(str(p) for p in phones if p)})" if phones else name)
    return "Shared contact: " + ("; ".join(str(person) for person in people) or "empty")


def _order(body: dict[str, Any], _: dict[str, Any]) -> str:
    items = body.get("product_items")
    count = len(items) if isinstance(items, list) else 0
    text = f"Order: {count} item(s) from catalog {body.get('catalog_id') or 'unknown'}"
    return f"{text} - {body['text']}" if body.get("text") else text


def _system(body: dict[str, Any], _: dict[str, Any]) -> str:
    return f"System: {body.get('body') or body.get('type') or 'notification'}"


def _unsupported(_: dict[str, Any], raw: dict[str, Any]) -> str:
    errors = _dicts(raw.get("errors"))
    first = errors[0] if errors else {}
    reason = first.get("title") or first.get("message")
    kind = raw.get("type") or "unknown"
    return f"Unsupported message ({kind}): {reason}" if reason else f"Unsupported message ({kind})"


DESCRIBERS: dict[str, Callable[[dict[str, Any], dict[str, Any]], str]] = {
    "sticker": _sticker, "contacts": _contacts, "order": _order, "system": _system,
}
