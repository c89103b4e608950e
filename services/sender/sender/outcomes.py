"""The message writes of one send: claim, then Sent, Failed, or released for a retry.

The claim is a conditional update (Queued, and unclaimed or claimed longer ago than the claim
timeout) that also counts the attempt, so two senders never both send one message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from pymongo import ReturnDocument
from pymongo.errors import ConnectionFailure
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from sender.context import Context, to_datetime
from shared.models import MessageStatus
from shared.store import CLAIM_FIELDS, VersionConflict, transition

log = structlog.get_logger("relay.sender")



async def claim(ctx: Context, message_id: str) -> dict[str, Any] | None:
    """Take the message for one attempt; None if it is not Queued or a live sender holds it."""
    now = ctx.now_dt()
    stale = now - timedelta(seconds=ctx.settings.claim_timeout_seconds)
    # ``$and`` around the ``$or``: nx-27017 lets a ``$or`` beside other fields match documents
    # the other fields exclude, so this would claim another message (docs/DEVIATIONS.md).
    return await ctx.db.messages.find_one_and_update(
        {"$and": [{"_id": message_id}, {"status": MessageStatus.QUEUED.value},
                  {"$or": [{"claimedBy": None}, {"claimedAt": {"$lt": stale}}]}]},
        {"$set": {"claimedBy": ctx.process_id, "claimedAt": now}, "$inc": {"attempts": 1}},
        return_document=ReturnDocument.AFTER,
    )


def _persistently() -> AsyncRetrying:
    # After Meta accepted, the record must land: a database blip must not cause a resend.
    return AsyncRetrying(
        retry=retry_if_exception_type(ConnectionFailure), reraise=True,
        stop=stop_after_delay(30), wait=wait_exponential(multiplier=0.1, max=2),
    )


async def _move(
    ctx: Context, doc: dict[str, Any], target: MessageStatus, fields: dict[str, Any]
) -> dict[str, Any] | None:
    """``transition`` with the claim dropped; on a version conflict read again, once."""
    for _ in range(2):
        try:
            return await transition(ctx.db, doc, target, fields=fields, unset=CLAIM_FIELDS,
                                    outbox=ctx.outbox)
        except VersionConflict:
            fresh = await ctx.db.messages.find_one({"_id": doc["_id"]})
            if fresh is None:
                return None
            doc = fresh
    return None


async def record_sent(ctx: Context, doc: dict[str, Any], wamid: str, at: float) -> None:
    """Record the accepted send at once: the ``wamid`` makes the webhooks match."""
    when = ctx.now_dt()
    fields = {"whatsappMessageId": wamid, "sentAt": when, "attemptedAt": to_datetime(at),
              "lastError": None}
    async for attempt in _persistently():
        with attempt:
            moved = await _move(ctx, doc, MessageStatus.SENT, fields)
    if moved is None:
        # Moved on meanwhile: usually ingest, whose status webhook (matched by the message id)
        # overtook this record; else it was cancelled. It went out either way: keep the wamid.
        before = await ctx.db.messages.find_one_and_update(
            {"_id": doc["_id"]},
            {"$set": {"whatsappMessageId": wamid, "attemptedAt": fields["attemptedAt"]},
             "$unset": dict.fromkeys(CLAIM_FIELDS, "")},
        )
        if before is None or before.get("whatsappMessageId") != wamid:
            log.warning("sent_after_state_change", message_id=doc["_id"],
                        status=before and before.get("status"))


async def record_failed(
    ctx: Context, doc: dict[str, Any], reason: str, *, at: float | None = None
) -> None:
    """``Failed`` with a readable ``errorMessage`` (the error code kept in it)."""
    fields: dict[str, Any] = {"errorMessage": reason, "lastError": reason}
    if at is not None:
        fields["attemptedAt"] = to_datetime(at)
    async for attempt in _persistently():
        with attempt:
            await _move(ctx, doc, MessageStatus.FAILED, fields)


async def release(ctx: Context, doc: dict[str, Any], reason: str, at: float) -> None:
    """Give the claim back after a retryable error (the retry command is already deferred)."""
    await ctx.db.messages.update_one(
        {"_id": doc["_id"], "claimedBy": ctx.process_id, "status": MessageStatus.QUEUED.value},
        {"$set": {"lastError": reason, "attemptedAt": to_datetime(at), "updatedAt": ctx.now_dt()},
         "$unset": dict.fromkeys(CLAIM_FIELDS, "")},
    )

