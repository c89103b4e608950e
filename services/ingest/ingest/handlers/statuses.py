"""Status webhooks, applied monotonically with the webhook's own timestamps.

- A status above the current one moves the message there (``MessageStore.move``): its
  timestamp is set, and so are the earlier ones still missing (a ``read`` without ``delivered``
  sets ``deliveredAt`` too). ``failed`` is terminal, with ``errorMessage`` from ``errors[0]``.
- A status at or below the current one never changes the status, the version or the events; it
  only records its own timestamp when that differs (a late ``delivered`` after ``read`` replaces
  the ``deliveredAt`` that ``read`` implied). A duplicate therefore changes nothing.
- A Failed or Cancelled message is left alone.
- A status whose ``wamid`` is not stored yet is matched by ``biz_opaque_callback_data`` (the
  Relay message id the sender put on the send): a message the sender never recorded as sent —
  it died after Meta accepted, or its call timed out — takes the ``wamid`` and the status here,
  so the sender's retry finds it past ``Queued`` and drops it instead of sending it again.
- A status matching neither goes back to the worker to be retried later.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import structlog

from ingest.context import Context
from ingest.parse import StatusUpdate
from shared.messages import Message, VersionConflict
from shared.models import TERMINAL, Direction, MessageStatus, can_transition

log = structlog.get_logger("relay.ingest.statuses")

TARGET = {
    "sent": MessageStatus.SENT, "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ, "failed": MessageStatus.FAILED,
}
FIELD = {"sent": "sentAt", "delivered": "deliveredAt", "read": "readAt"}
IMPLIED = {"sent": (), "delivered": ("sentAt",), "read": ("sentAt", "deliveredAt")}
_ATTR = {"sentAt": "sent_at", "deliveredAt": "delivered_at", "readAt": "read_at"}
MAX_CONFLICTS = 20


async def apply(items: list[StatusUpdate], ctx: Context) -> None:
    """Apply every status of one delivery; unknown wamids are handed to ``ctx.retry_later``."""
    by_wamid: dict[str, list[StatusUpdate]] = {}
    for item in items:
        by_wamid.setdefault(item.wamid, []).append(item)
    found = await _by_callback(by_wamid, ctx)
    found.update(await ctx.messages.by_wamid([w for w in by_wamid if w not in found]))
    await asyncio.gather(*(
        _apply_all(found[wamid], statuses, ctx) if wamid in found else _later(statuses, ctx)
        for wamid, statuses in by_wamid.items()
    ))


async def _by_callback(
    by_wamid: dict[str, list[StatusUpdate]], ctx: Context
) -> dict[str, Message]:
    """Outbound messages named by the statuses' callback data (Relay's message id), by wamid:
    point reads by ``_id``, batched. A message found here that holds another wamid is a second
    copy (see :func:`_apply_all`)."""
    wamid_of = {s[0].callback: wamid for wamid, s in by_wamid.items() if s[0].callback}
    messages = await asyncio.gather(*(ctx.messages.get(i) for i in wamid_of))
    found = {wamid_of[m.id]: m for m in messages
             if m is not None and m.direction == Direction.OUTBOUND}
    if unrecorded := sum(1 for m in found.values() if not m.whatsapp_message_id):
        log.info("status_matched_by_callback", count=unrecorded)
    return found


async def _later(statuses: list[StatusUpdate], ctx: Context) -> None:
    for status in statuses:
        await ctx.retry_later(status)


async def _apply_all(message: Message, statuses: list[StatusUpdate], ctx: Context) -> None:
    account = ctx.accounts[statuses[0].phone_number_id]
    if message.whatsapp_account_id != account["_id"]:
        log.warning("status_for_other_account", message_id=message.id, account_id=account["_id"])
        ctx.metrics.event("status", "account_mismatch", len(statuses))
        return
    if message.whatsapp_message_id not in (None, statuses[0].wamid):
        # Matched by callback, but recorded with another wamid: a second copy of the message
        # (the one window that remains, docs/SENDER.md). Its statuses would only repeat.
        log.warning("status_for_second_copy", message_id=message.id, wamid=statuses[0].wamid)
        ctx.metrics.event("status", "second_copy", len(statuses))
        return
    for status in statuses:
        message = await apply_status(message, status, ctx)


async def apply_status(message: Message, status: StatusUpdate, ctx: Context) -> Message:
    """Apply one status to ``message``; re-read and decide again on a conflict."""
    for _ in range(MAX_CONFLICTS):
        try:
            new, outcome = await _apply_once(message, status, ctx)
        except VersionConflict:
            fresh = await ctx.messages.get(message.id)
            if fresh is None:
                raise
            message = fresh
            continue
        ctx.metrics.event("status", outcome)
        return new
    raise VersionConflict(message.id)


async def _apply_once(
    message: Message, status: StatusUpdate, ctx: Context
) -> tuple[Message, str]:
    target, current = TARGET[status.status], MessageStatus(message.status)
    if can_transition(current, target):
        fields = _fields(status)
        recorded = bool(message.whatsapp_message_id)
        if not recorded:  # matched by callback: Meta accepted it
            fields["whatsappMessageId"] = status.wamid
        ctx.outbox.add_pending(message.to_doc())
        new = await ctx.messages.move(message, target, fields=fields, drop_claim=not recorded)
        if new is None:  # pragma: no cover - can_transition said yes
            return message, "stale"
        ctx.outbox.add(new.to_doc())
        # Not in the transition itself: a late status's own timestamp is written without a
        # version change, so only a write conditional on the field being empty is safe here.
        await _fill_implied(ctx, new, status)
        log.info("status_applied", message_id=message.id, status=target.value)
        return new, "applied"
    own = FIELD.get(status.status)
    stored = message.to_doc().get(own) if own else None
    if current in TERMINAL or own is None or same_instant(stored, status.timestamp):
        if current == target and current not in TERMINAL:
            await _fill_implied(ctx, message, status)  # finishes what a crash may have left
        return message, "duplicate" if current == target else "stale"
    return await ctx.messages.stamp(message, own, status.timestamp), "timestamp"


def _fields(status: StatusUpdate) -> dict[str, Any]:
    if status.status == "failed":
        return {"errorMessage": status.error_message}
    return {FIELD[status.status]: status.timestamp}


async def _fill_implied(ctx: Context, message: Message, status: StatusUpdate) -> None:
    """Earlier timestamps still missing take this status's time; each write is conditional on
    the field being empty, so a real earlier status recorded meanwhile is never overwritten."""
    for earlier in IMPLIED.get(status.status, ()):
        if getattr(message, _ATTR[earlier]) is not None:
            continue
        if await ctx.messages.fill(message.id, earlier, status.timestamp):
            setattr(message, _ATTR[earlier], status.timestamp)


def same_instant(stored: Any, when: datetime) -> bool:
    """Whether a stored timestamp is ``when``; nx-27017 may hand it back as a string
    (docs/DEVIATIONS.md), which is read as UTC."""
    if isinstance(stored, str):
        try:
            stored = datetime.fromisoformat(stored)
        except ValueError:
            return False
    if isinstance(stored, datetime):
        if stored.tzinfo is None:
            stored = stored.replace(tzinfo=UTC)
        return bool(stored == when)
    return False
