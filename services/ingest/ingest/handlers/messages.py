"""Inbound messages: dedupe on the wamid, contact, media, insert, count, ``message.received``.

The unique index on ``whatsappMessageId`` is the dedupe: a replay finds its message already
there (or loses the insert race) and creates and updates nothing — except finishing a message a
crash left uncounted or with its event unrecorded.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

import structlog
from pymongo.errors import DuplicateKeyError

from ingest.contacts import ContactKey, count_messages, ensure_contacts
from ingest.context import Context
from ingest.parse import InboundMessage
from shared.broker import Requeue
from shared.db import created_ms
from shared.messages import Message
from shared.models import Direction, MessageStatus, utcnow

log = structlog.get_logger("relay.ingest.messages")

MEDIA_CONCURRENCY = 8


async def apply(items: list[InboundMessage], ctx: Context) -> None:
    """Apply every inbound message of one delivery (their accounts are known)."""
    unique = list({item.wamid: item for item in reversed(items)}.values())[::-1]
    ctx.metrics.event("message", "duplicate", len(items) - len(unique))
    existing = await _existing(ctx, [item.wamid for item in unique])
    fresh = [item for item in unique if item.wamid not in existing]
    inserted: list[dict[str, Any]] = []
    if fresh:
        names: dict[ContactKey, str | None] = {}
        renamed: list[tuple[str, str, str]] = []
        contact_ids = await ensure_contacts(ctx.db, _wanted(fresh, ctx), names, renamed)
        for user_id, contact_id, name in renamed:  # searches find them by the new name
            await ctx.messages.rename_contact(user_id, contact_id, name)
        built = await _build_all(fresh, contact_ids, ctx)
        await _link_reactions(ctx, built)
        inserted, raced = await _insert(ctx, built, names)
        existing.update(await _existing(ctx, raced))
        if lost := set(raced) - existing.keys():
            # A unique-index refusal that no stored message explains: try the delivery again
            # rather than mistake a new message for a duplicate.
            raise Requeue(f"{len(lost)} inbound message(s) refused without a stored twin")
    replays = list(existing.values())
    ctx.metrics.event("message", "duplicate", len(replays))
    unfinished = [doc for doc in replays if not doc.get("contactCounted", True)]
    counted = inserted + unfinished
    await count_messages(ctx.db, counted)
    await ctx.messages.mark([doc["_id"] for doc in counted], {"contactCounted": True})
    for doc in inserted + [d for d in replays if d.get("eventPending")]:
        ctx.outbox.add(doc)
    ctx.metrics.event("message", "applied", len(inserted))
    for doc in inserted:
        log.info("inbound_message_stored", message_id=doc["_id"],
                 account_id=doc["whatsappAccountId"], whatsapp_type=doc["whatsappType"])


async def _existing(ctx: Context, wamids: list[str]) -> dict[str, dict[str, Any]]:
    found = await ctx.messages.by_wamid(wamids) if wamids else {}
    return {wamid: message.to_doc() for wamid, message in found.items()}


def _wanted(items: list[InboundMessage], ctx: Context) -> dict[ContactKey, tuple[str, str | None]]:
    wanted: dict[ContactKey, tuple[str, str | None]] = {}
    for item in items:
        account = ctx.accounts[item.phone_number_id]
        key = (account["_id"], item.phone)
        name = item.profile_name or (wanted.get(key) or (None, None))[1]
        wanted[key] = (account["userId"], name)
    return wanted


async def _build_all(
    items: list[InboundMessage], contact_ids: dict[ContactKey, str], ctx: Context
) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(MEDIA_CONCURRENCY)

    async def build(item: InboundMessage) -> dict[str, Any] | None:
        account = ctx.accounts[item.phone_number_id]
        doc = new_message_doc(item, account, contact_ids[(account["_id"], item.phone)])
        if item.media_id:
            async with gate:
                fetched = await ctx.media.fetch(account, item.media_id)
            if fetched.transient and ctx.media_retry_allowed:
                await ctx.retry_message(item)  # stored when it comes back, media and all
                ctx.metrics.event("media", "retry")
                return None
            doc.update(mediaId=fetched.media_id, mediaUrl=fetched.url, errorMessage=fetched.error)
            ctx.metrics.event("media", "stored" if fetched.url else "failed")
        return doc

    built = await asyncio.gather(*(build(item) for item in items))
    return [doc for doc in built if doc is not None]


def new_message_doc(
    item: InboundMessage, account: dict[str, Any], contact_id: str
) -> dict[str, Any]:
    """The stored form of an inbound message: ``Delivered``, version 1, its event pending."""
    now = utcnow()
    doc: dict[str, Any] = {
        "_id": str(uuid.uuid4()), "userId": account["userId"],
        "whatsappAccountId": account["_id"], "contactId": contact_id, "campaignId": None,
        "direction": Direction.INBOUND.value, "type": item.message_type.value,
        "content": item.content, "mediaUrl": None, "mediaId": None,
        "whatsappMessageId": item.wamid, "whatsappType": item.whatsapp_type,
        "status": MessageStatus.DELIVERED.value, "previousStatus": None, "version": 1,
        "errorMessage": None, "scheduledFor": None, "sentAt": None,
        "deliveredAt": item.timestamp, "readAt": None, "isFromBot": False,
        "from": item.phone, "attempts": 0, "createdAt": item.timestamp,
        "createdMs": created_ms(item.timestamp), "updatedAt": now,
        "statusChangedAt": now, "eventPending": True, "contactCounted": False,
    }
    if item.media_id:
        doc["whatsappMediaId"] = item.media_id
    doc.update(copy.deepcopy(item.parts))  # interactive, location, reaction or raw
    return doc


async def _link_reactions(ctx: Context, docs: list[dict[str, Any]]) -> None:
    """Fill each reaction's ``messageId`` with Relay's id of the reacted message, when Relay
    knows its wamid in the same account (one query, only when the batch has reactions)."""
    reactions = [doc for doc in docs if isinstance(doc.get("reaction"), dict)]
    if not reactions:
        return
    known = {(doc["whatsappAccountId"], doc["whatsappMessageId"]): doc["_id"] for doc in docs}
    wanted = {doc["reaction"]["whatsappMessageId"] for doc in reactions} - {
        wamid for _, wamid in known}
    if wanted:
        for wamid, message in (await ctx.messages.by_wamid(sorted(wanted))).items():
            known[(message.whatsapp_account_id, wamid)] = message.id
    for doc in reactions:
        target = (doc["whatsappAccountId"], doc["reaction"]["whatsappMessageId"])
        doc["reaction"]["messageId"] = known.get(target)


async def _insert(
    ctx: Context, docs: list[dict[str, Any]], names: dict[ContactKey, str | None]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Insert all (each searchable by its contact's current name, ``names``); return the
    inserted docs and the wamids another writer stored first."""
    added = await asyncio.gather(
        *(ctx.messages.add(Message.from_doc(doc), contact_name=names.get(
            (doc["whatsappAccountId"], doc["from"]))) for doc in docs), return_exceptions=True)
    for outcome in added:
        if isinstance(outcome, BaseException) and not isinstance(outcome, DuplicateKeyError):
            raise outcome
    raced = [doc["whatsappMessageId"] for doc, outcome in zip(docs, added, strict=True)
             if isinstance(outcome, DuplicateKeyError)]
    return [doc for doc, outcome in zip(docs, added, strict=True) if outcome is None], raced
