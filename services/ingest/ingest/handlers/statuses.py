"""Status webhooks, applied monotonically with the webhook's own timestamps.

- A status above the current one moves the message there (``shared.store.transition``): its
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
from shared.models import TERMINAL, MessageStatus, can_transition
from shared.store import CLAIM_FIELDS, VersionConflict, transition

log = structlog.get_logger("relay.ingest.statuses")

TARGET = {
    "sent": MessageStatus.SENT, "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ, "failed": MessageStatus.FAILED,
}
FIELD = {"sent": "sentAt", "delivered": "deliveredAt", "read": "readAt"}
IMPLIED = {"sent": (), "delivered": ("sentAt",), "read": ("sentAt", "deliveredAt")}
MAX_CONFLICTS = 20


async def apply(items: list[StatusUpdate], ctx: Context) -> None:
    """Apply every status of one delivery; unknown wamids are handed to ``ctx.retry_later``."""
    by_wamid: dict[str, list[StatusUpdate]] = {}
    for item in items:
        by_wamid.setdefault(item.wamid, []).append(item)
    cursor = ctx.db.messages.find({"whatsappMessageId": {"$in": list(by_wamid)}})
    docs = {doc["whatsappMessageId"]: doc async for doc in cursor}
    docs.update(await _by_callback(
        {w: s for w, s in by_wamid.items() if w not in docs}, ctx))
    await asyncio.gather(*(
        _apply_all(docs[wamid], statuses, ctx) if wamid in docs else _later(statuses, ctx)
        for wamid, statuses in by_wamid.items()
    ))


async def _by_callback(
    unknown: dict[str, list[StatusUpdate]], ctx: Context
) -> dict[str, dict[str, Any]]:
    """Outbound messages named by the unknown wamids' callback data, by wamid (one query)."""
    wamid_of = {s[0].callback: wamid for wamid, s in unknown.items() if s[0].callback}
    if not wamid_of:
        return {}
    cursor = ctx.db.messages.find({"_id": {"$in": list(wamid_of)}, "direction": "Outbound"})
    found = {wamid_of[doc["_id"]]: doc async for doc in cursor}
    if found:
        log.info("status_matched_by_callback", count=len(found))
    return found


async def _later(statuses: list[StatusUpdate], ctx: Context) -> None:
    for status in statuses:
        await ctx.retry_later(status)


async def _apply_all(doc: dict[str, Any], statuses: list[StatusUpdate], ctx: Context) -> None:
    account = ctx.accounts[statuses[0].phone_number_id]
    if doc.get("whatsappAccountId") != account["_id"]:
        log.warning("status_for_other_account", message_id=doc["_id"], account_id=account["_id"])
        ctx.metrics.event("status", "account_mismatch", len(statuses))
        return
    if doc.get("whatsappMessageId") not in (None, statuses[0].wamid):
        # Matched by callback, but recorded with another wamid: a second copy of the message
        # (the one window that remains, docs/SENDER.md). Its statuses would only repeat.
        log.warning("status_for_second_copy", message_id=doc["_id"], wamid=statuses[0].wamid)
        ctx.metrics.event("status", "second_copy", len(statuses))
        return
    for status in statuses:
        doc = await apply_status(doc, status, ctx)


async def apply_status(doc: dict[str, Any], status: StatusUpdate, ctx: Context) -> dict[str, Any]:
    """Apply one status to the message ``doc``; re-read and decide again on a conflict."""
    for _ in range(MAX_CONFLICTS):
        try:
            new, outcome = await _apply_once(doc, status, ctx)
        except VersionConflict:
            fresh = await ctx.db.messages.find_one({"_id": doc["_id"]})
            if fresh is None:
                raise
            doc = fresh
            continue
        ctx.metrics.event("status", outcome)
        return new
    raise VersionConflict(doc["_id"])


async def _apply_once(
    doc: dict[str, Any], status: StatusUpdate, ctx: Context
) -> tuple[dict[str, Any], str]:
    target, current = TARGET[status.status], MessageStatus(doc["status"])
    if can_transition(current, target):
        fields, unset = _fields(status), None
        if not doc.get("whatsappMessageId"):  # matched by callback: Meta accepted it
            fields["whatsappMessageId"] = status.wamid
            unset = CLAIM_FIELDS
        new = await transition(ctx.db, doc, target, fields=fields, unset=unset,
                               outbox=ctx.outbox)
        if new is None:  # pragma: no cover - can_transition said yes
            return doc, "stale"
        # Not in the transition itself: a late status's own timestamp is written without a
        # version change, so only a write conditional on the field being empty is safe here.
        await _fill_implied(ctx, new, status)
        log.info("status_applied", message_id=doc["_id"], status=target.value)
        return new, "applied"
    own = FIELD.get(status.status)
    if current in TERMINAL or own is None or same_instant(doc.get(own), status.timestamp):
        if current == target and current not in TERMINAL:
            await _fill_implied(ctx, doc, status)  # finishes what a crash may have left
        return doc, "duplicate" if current == target else "stale"
    result = await ctx.db.messages.update_one(
        {"_id": doc["_id"], "version": doc["version"]}, {"$set": {own: status.timestamp}}
    )
    if result.matched_count != 1:
        raise VersionConflict(doc["_id"])
    return {**doc, own: status.timestamp}, "timestamp"


def _fields(status: StatusUpdate) -> dict[str, Any]:
    if status.status == "failed":
        return {"errorMessage": status.error_message}
    return {FIELD[status.status]: status.timestamp}


async def _fill_implied(ctx: Context, doc: dict[str, Any], status: StatusUpdate) -> None:
    """Earlier timestamps still missing take this status's time; each write is conditional on
    the field being empty, so a real earlier status recorded meanwhile is never overwritten."""
    for earlier in IMPLIED.get(status.status, ()):
        if doc.get(earlier) is not None:
            continue
        empty = {"$or": [{earlier: None}, {earlier: {"$type": "null"}}]}  # both servers' null
        # Inside ``$and``: nx-27017 does not AND a ``$or`` with its sibling fields
        # (docs/DEVIATIONS.md), so ``{_id, $or}`` could set another message's timestamp.
        result = await ctx.db.messages.update_one(
            {"$and": [{"_id": doc["_id"]}, empty]}, {"$set": {earlier: status.timestamp}}
        )
        if result.modified_count == 1:
            doc[earlier] = status.timestamp


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
