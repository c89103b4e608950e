"""The Cloud API request body of a stored message; media is uploaded first and sent by id."""

from __future__ import annotations

import uuid
from typing import Any

from sender.accounts import Account
from sender.context import Context
from sender.media import MediaRefused
from shared.media import EXTENSIONS, object_key
from shared.models import MessageType


async def build(ctx: Context, doc: dict[str, Any], account: Account) -> dict[str, Any]:
    """``to``, ``type`` and the type's object, with Relay's id echoed in status webhooks."""
    base: dict[str, Any] = {"to": doc["to"], "biz_opaque_callback_data": doc["_id"]}
    kind = doc["type"]
    if kind == MessageType.TEXT:
        body = doc.get("content") or ""
        return {**base, "type": "text", "text": {"body": body, "preview_url": False}}
    media_id, filename = await _uploaded(ctx, doc, account)
    wire = kind.lower()
    obj: dict[str, Any] = {"id": media_id}
    if doc.get("content") and kind != MessageType.AUDIO:
        obj["caption"] = doc["content"]
    if kind == MessageType.DOCUMENT:
        obj["filename"] = filename
    return {**base, "type": wire, wire: obj}


async def _uploaded(ctx: Context, doc: dict[str, Any], account: Account) -> tuple[str, str]:
    """Upload the message's media to the Cloud API; return (media id, file name)."""
    data, mime, key = await _bytes_of(ctx, doc)
    filename = key.rsplit("/", 1)[-1]
    media_id = await ctx.cloud.upload_media(account.phone_number_id, account.token, data, mime,
                                            filename)
    return media_id, filename


async def _bytes_of(ctx: Context, doc: dict[str, Any]) -> tuple[bytes, str, str]:
    media_id = doc.get("fetchedMediaId") or doc.get("mediaId")
    if media_id:
        media = await ctx.db.media.find_one({"_id": media_id})
        if media is None or (media.get("userId") and media["userId"] != doc["userId"]):
            raise MediaRefused(f"media {media_id} does not exist")
        return await ctx.store.get(media["key"]), media["mimeType"], media["key"]
    url = doc.get("mediaUrl")
    if not url:
        raise MediaRefused(f"a {doc['type']} message needs mediaUrl or mediaId")
    fetched = await ctx.fetcher.fetch(url, doc["type"])
    return fetched.data, fetched.mime_type, await _keep(ctx, doc, fetched.data, fetched.mime_type)


async def _keep(ctx: Context, doc: dict[str, Any], data: bytes, mime: str) -> str:
    """Store fetched media under ``messages/`` so a retry reuses it instead of fetching again."""
    key = object_key(mime) if mime in EXTENSIONS else f"messages/{uuid.uuid4()}.bin"
    await ctx.store.put(key, data, mime)
    media_id = str(uuid.uuid4())
    await ctx.db.media.insert_one({
        "_id": media_id, "userId": doc["userId"], "key": key, "mimeType": mime,
        "size": len(data), "source": "mediaUrl", "createdAt": ctx.now_dt(),
    })
    await ctx.db.messages.update_one({"_id": doc["_id"]}, {"$set": {"fetchedMediaId": media_id}})
    return key
