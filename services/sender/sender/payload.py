"""The Cloud API request body of a stored message; media is uploaded first and sent by id."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sender.accounts import Account
from sender.context import Context
from sender.media import MediaRefused
from shared.media import EXTENSIONS, object_key
from shared.messages import Message
from shared.models import MessageType


async def build(ctx: Context, message: Message, account: Account) -> dict[str, Any]:
    """``to``, ``type`` and the type's object, with Relay's id echoed in status webhooks."""
    if not message.to:  # bad data, not a send error: the command dies and can be replayed
        raise ValueError(f"message {message.id} has no recipient (to)")
    base: dict[str, Any] = {"to": message.to, "biz_opaque_callback_data": message.id}
    kind = message.type
    if kind == MessageType.TEXT:
        body = message.content or ""
        return {**base, "type": "text", "text": {"body": body, "preview_url": False}}
    if kind in PART_BUILDERS:
        wire = kind.lower()
        return {**base, "type": wire, wire: PART_BUILDERS[MessageType(kind)](message)}
    media_id, filename = await _uploaded(ctx, message, account)
    wire = kind.lower()
    obj: dict[str, Any] = {"id": media_id}
    if message.content and kind != MessageType.AUDIO:
        obj["caption"] = message.content
    if kind == MessageType.DOCUMENT:
        obj["filename"] = filename
    return {**base, "type": wire, wire: obj}


def _template(message: Message) -> dict[str, Any]:
    """Meta's ``template``: the language as ``{"code": …}``, the components as sent."""
    part = _part(message, "template")
    template: dict[str, Any] = {"name": part["name"], "language": {"code": part["language"]}}
    if part.get("components"):
        template["components"] = part["components"]
    return template


def _interactive(message: Message) -> dict[str, Any]:
    return _part(message, "interactive")


def _location(message: Message) -> dict[str, Any]:
    part = _part(message, "location")
    return {k: part[k] for k in ("latitude", "longitude", "name", "address") if k in part}


def _reaction(message: Message) -> dict[str, Any]:
    """The reacted message's ``wamid``, recorded at accept (no read here)."""
    part = _part(message, "reaction")
    return {"message_id": part["whatsappMessageId"], "emoji": part.get("emoji", "")}


def _part(message: Message, name: str) -> dict[str, Any]:
    part = getattr(message, name)
    if not isinstance(part, dict):  # bad data, not a send error (see ``build``)
        raise ValueError(f"message {message.id} ({message.type}) has no {name}")
    return part


PART_BUILDERS: dict[MessageType, Callable[[Message], dict[str, Any]]] = {
    MessageType.TEMPLATE: _template, MessageType.INTERACTIVE: _interactive,
    MessageType.LOCATION: _location, MessageType.REACTION: _reaction,
}


async def _uploaded(ctx: Context, message: Message, account: Account) -> tuple[str, str]:
    """Upload the message's media to the Cloud API; return (media id, file name)."""
    data, mime, key = await _bytes_of(ctx, message)
    filename = key.rsplit("/", 1)[-1]
    media_id = await ctx.cloud.upload_media(account.phone_number_id, account.token, data, mime,
                                            filename)
    return media_id, filename


async def _bytes_of(ctx: Context, message: Message) -> tuple[bytes, str, str]:
    media_id = (message.model_extra or {}).get("fetchedMediaId") or message.media_id
    if media_id:
        media = await ctx.db.media.find_one({"_id": media_id})
        if media is None or (media.get("userId") and media["userId"] != message.user_id):
            raise MediaRefused(f"media {media_id} does not exist")
        return await ctx.store.get(media["key"]), media["mimeType"], media["key"]
    url = message.media_url
    if not url:
        raise MediaRefused(f"a {message.type} message needs mediaUrl or mediaId")
    fetched = await ctx.fetcher.fetch(url, message.type)
    data, mime = fetched.data, fetched.mime_type
    return data, mime, await _keep(ctx, message, data, mime)


async def _keep(ctx: Context, message: Message, data: bytes, mime: str) -> str:
    """Store fetched media under ``messages/`` so a retry reuses it instead of fetching again."""
    key = object_key(mime) if mime in EXTENSIONS else f"messages/{uuid.uuid4()}.bin"
    await ctx.store.put(key, data, mime)
    media_id = str(uuid.uuid4())
    await ctx.db.media.insert_one({
        "_id": media_id, "userId": message.user_id, "key": key, "mimeType": mime,
        "size": len(data), "source": "mediaUrl", "createdAt": ctx.now_dt(),
    })
    await ctx.messages.annotate(message.id, {"fetchedMediaId": media_id})
    return key
