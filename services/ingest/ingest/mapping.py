"""How each WhatsApp message type becomes one of the seed's five types (docs/INGEST.md).

Text, image, video, audio and document map to themselves; a sticker is an Image (it has media);
every other type is kept as Text with a readable ``content``, the original type in
``whatsappType`` and the raw object in ``raw``: nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.models import MessageType

MEDIA_TYPES: dict[str, MessageType] = {
    "image": MessageType.IMAGE, "video": MessageType.VIDEO, "audio": MessageType.AUDIO,
    "document": MessageType.DOCUMENT, "sticker": MessageType.IMAGE,
}
NATIVE = frozenset({"text", "image", "video", "audio", "document"})


@dataclass(frozen=True)
class Mapped:
    whatsapp_type: str
    message_type: MessageType
    content: str | None
    media_id: str | None = None


def map_message(raw: dict[str, Any]) -> Mapped:
    """The seed type, readable content and media id of one ``messages[]`` item."""
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
    describe = DESCRIBERS.get(kind, _unsupported)
    return Mapped(kind, MessageType.TEXT, describe(body, raw)[:4096])


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _location(body: dict[str, Any], _: dict[str, Any]) -> str:
    place = ", ".join(str(body[k]) for k in ("name", "address") if body.get(k))
    where = f"{body.get('latitude')}, {body.get('longitude')}"
    return f"Location: {place} ({where})" if place else f"Location: {where}"


def _contacts(_: dict[str, Any], raw: dict[str, Any]) -> str:
    people = []
    for person in raw.get("contacts") or []:
        if not isinstance(person, dict):
            continue
        name = (person.get("name") or {}).get("formatted_name") or "unnamed"
        phones = [p.get("phone") for p in person.get("phones") or [] if isinstance(p, dict)]
        people.append(f"{name} ({', '.join(str(p) for p in phones if p)})" if phones else name)
    return "Shared contact: " + ("; ".join(people) or "empty")


def _interactive(body: dict[str, Any], _: dict[str, Any]) -> str:
    reply = body.get("button_reply") or body.get("list_reply") or body.get("nfm_reply") or {}
    title = reply.get("title") or reply.get("name") or reply.get("body") or reply.get("id")
    extra = f" - {reply['description']}" if reply.get("description") else ""
    return f"Interactive reply: {title or 'empty'}{extra}"


def _button(body: dict[str, Any], _: dict[str, Any]) -> str:
    return f"Button: {body.get('text') or body.get('payload') or 'empty'}"


def _reaction(body: dict[str, Any], _: dict[str, Any]) -> str:
    emoji = body.get("emoji")
    target = body.get("message_id") or "a message"
    return f"Reaction {emoji} to {target}" if emoji else f"Reaction removed from {target}"


def _order(body: dict[str, Any], _: dict[str, Any]) -> str:
    items = body.get("product_items") or []
    text = f"Order: {len(items)} item(s) from catalog {body.get('catalog_id') or 'unknown'}"
    return f"{text} - {body['text']}" if body.get("text") else text


def _system(body: dict[str, Any], _: dict[str, Any]) -> str:
    return f"System: {body.get('body') or body.get('type') or 'notification'}"


def _unsupported(_: dict[str, Any], raw: dict[str, Any]) -> str:
    errors = raw.get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    reason = first.get("title") or first.get("message")
    kind = raw.get("type") or "unknown"
    return f"Unsupported message ({kind}): {reason}" if reason else f"Unsupported message ({kind})"


DESCRIBERS: dict[str, Callable[[dict[str, Any], dict[str, Any]], str]] = {
    "location": _location, "contacts": _contacts, "interactive": _interactive,
    "button": _button, "reaction": _reaction, "order": _order, "system": _system,
}
