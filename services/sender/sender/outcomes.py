"""The message writes of one send: claim, then Sent, Failed, or released for a retry.

All go through the message store (``ctx.messages``), whose adapter batches concurrent claims and
records into shared round trips. The claim is conditional (Queued, and free or past its lease)
and counts the attempt, so two senders never both send one message.
"""

from __future__ import annotations

from typing import Any

import structlog
from pymongo.errors import ConnectionFailure
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from sender.context import Context, to_datetime
from shared.messages import Message, VersionConflict
from shared.models import MessageStatus

log = structlog.get_logger("relay.sender")


async def claim(ctx: Context, message_id: str) -> Message | None:
    """Take the message for one attempt; None if it is not Queued or a live sender holds it."""
    return await ctx.messages.claim(message_id, owner=ctx.process_id, now=ctx.clock(),
                                    lease_seconds=ctx.settings.claim_timeout_seconds)


def _persistently() -> AsyncRetrying:
    # After Meta accepted, the record must land: a database blip must not cause a resend.
    return AsyncRetrying(
        retry=retry_if_exception_type(ConnectionFailure), reraise=True,
        stop=stop_after_delay(30), wait=wait_exponential(multiplier=0.1, max=2),
    )


async def _move(
    ctx: Context, message: Message, target: MessageStatus, fields: dict[str, Any]
) -> Message | None:
    """Move with the claim dropped; on a version conflict read again, once."""
    for _ in range(2):
        if ctx.outbox is not None:
            ctx.outbox.add_pending(message.to_doc())
        try:
            moved = await ctx.messages.move(message, target, fields=fields, drop_claim=True)
        except VersionConflict:
            fresh = await ctx.messages.get(message.id)
            if fresh is None:
                return None
            message = fresh
            continue
        if moved is not None and ctx.outbox is not None:
            ctx.outbox.add(moved.to_doc())
        return moved
    return None


async def record_sent(ctx: Context, message: Message, wamid: str, at: float) -> None:
    """Record the accepted send at once: the ``wamid`` makes the webhooks match."""
    fields = {"whatsappMessageId": wamid, "sentAt": ctx.now_dt(), "attemptedAt": to_datetime(at),
              "lastError": None}
    async for attempt in _persistently():
        with attempt:
            moved = await _move(ctx, message, MessageStatus.SENT, fields)
    if moved is None:
        # Moved on meanwhile: usually ingest, whose status webhook (matched by the message id)
        # overtook this record; else it was cancelled. It went out either way: keep the wamid.
        before = await ctx.messages.annotate(
            message.id, {"whatsappMessageId": wamid, "attemptedAt": fields["attemptedAt"],
                         "attemptedMs": int(at * 1000)}, drop_claim=True)
        if before is None or before.whatsapp_message_id != wamid:
            log.warning("sent_after_state_change", message_id=message.id,
                        status=before and before.status)


async def record_failed(
    ctx: Context, message: Message, reason: str, *, at: float | None = None
) -> None:
    """``Failed`` with a readable ``errorMessage`` (the error code kept in it)."""
    fields: dict[str, Any] = {"errorMessage": reason, "lastError": reason}
    if at is not None:
        fields["attemptedAt"] = to_datetime(at)
    async for attempt in _persistently():
        with attempt:
            await _move(ctx, message, MessageStatus.FAILED, fields)


async def release(
    ctx: Context, message: Message, reason: str, at: float, *, unit_day: str | None = None
) -> None:
    """Give the claim back after a retryable error (the retry command is already deferred);
    ``unit_day``: the send day whose daily unit the message now holds."""
    await ctx.messages.release(message, owner=ctx.process_id, reason=reason, at=to_datetime(at),
                               unit_day=unit_day)


async def unclaim(ctx: Context, message: Message) -> None:
    """Give the claim back without an attempt (no call was made: the day's limit is reached):
    the attempt the claim counted is taken off again, so it does not bring ``Failed`` nearer."""
    await ctx.messages.annotate(message.id, {
        "attempts": max(0, message.attempts - 1), "claimedBy": None, "claimedAt": None,
        "claimToken": None, "claimUntil": 0})
