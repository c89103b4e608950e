"""``relay stats rebuild``: recompute every counter from the event log (``events``).

The log is read once in ``(messageId, version)`` order and folded with the same delta function
the live projection uses, so both give the same numbers. Documents are replaced in place (tagged
with a rebuild generation; leftovers of older generations are removed at the end), so readers
never see an empty read model. While it runs, the live projection pauses (a lease in
``stats_meta``), so the two never count the same event: events it defers are applied afterwards,
as duplicates of what the rebuild counted or as new ones.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReplaceOne

from shared.db import Database
from shared.models import MessageEvent
from stats.counters import Snapshot, advance, apply_to_doc, delta, empty_account, projectable
from stats.store import ACCOUNTS, MESSAGES, META, REBUILD_LEASE

Progress = Callable[[int], None]
BATCH = 1000
LEASE_SECONDS = 60.0
GRACE_SECONDS = 5.0
COUNTER_FIELDS = ("userId", "total", "byStatus", "byDirection", "byType", "outboundByStatus",
                  "days")


class _Fold:
    """Per-account documents and per-message states, built from a stream of events."""

    def __init__(self, generation: str) -> None:
        self.generation = generation
        self.accounts: dict[str, dict[str, Any]] = {}
        self.message_docs: list[dict[str, Any]] = []
        self.messages = 0

    def message(self, events: list[MessageEvent]) -> None:
        first = events[0]
        assert first.whatsapp_account_id is not None and first.user_id is not None
        account = self.accounts.get(first.whatsapp_account_id)
        if account is None:
            account = empty_account(first.whatsapp_account_id, first.user_id)
            account["rebuild"] = self.generation
            self.accounts[first.whatsapp_account_id] = account
        state: Snapshot | None = None
        for event in events:
            apply_to_doc(account, delta(state, event))
            state = advance(state, event)
        assert state is not None and first.direction and first.message_type
        self.messages += 1
        self.message_docs.append({
            "_id": first.message_id, "accountId": first.whatsapp_account_id,
            "userId": first.user_id, "direction": first.direction.value,
            "type": first.message_type.value, "applied": [e.version for e in events],
            "version": state.version, "status": state.status.value, "rebuild": self.generation,
        })


def _replace_all(docs: Iterable[dict[str, Any]]) -> list[ReplaceOne[dict[str, Any]]]:
    # The replacement carries _id: nx-27017 ignores the filter's _id on a replace upsert.
    return [ReplaceOne({"_id": doc["_id"]}, doc, upsert=True) for doc in docs]


async def rebuild(
    db: Database, *, progress: Progress | None = None, grace: float = GRACE_SECONDS
) -> dict[str, Any]:
    """Recompute ``stats_accounts`` and ``stats_messages`` from the event log; return a summary.

    Holds a lease in ``stats_meta`` meanwhile: the live projection pauses (its deliveries wait
    unacked) and, after ``grace`` seconds for windows already under way, the log is read.
    """
    started = time.monotonic()
    lease = _Lease(db)
    await lease.take()
    try:
        await asyncio.sleep(grace)
        return await _rebuild(db, progress, lease, started)
    finally:
        await lease.release()


class _Lease:
    """The rebuild's lease: renewed while it works, so a crashed rebuild pauses nothing long."""

    def __init__(self, db: Database) -> None:
        self._meta = db[META]
        self._renewed = 0.0

    async def take(self) -> None:
        until = datetime.now(UTC) + timedelta(seconds=LEASE_SECONDS)
        # The replacement carries _id: nx-27017 ignores the filter's _id on a replace upsert.
        await self._meta.replace_one(
            {"_id": REBUILD_LEASE}, {"_id": REBUILD_LEASE, "until": until}, upsert=True
        )
        self._renewed = time.monotonic()

    async def renew(self) -> None:
        if time.monotonic() - self._renewed > LEASE_SECONDS / 3:
            await self.take()

    async def release(self) -> None:
        await self._meta.delete_one({"_id": REBUILD_LEASE})


async def _rebuild(
    db: Database, progress: Progress | None, lease: _Lease, started: float
) -> dict[str, Any]:
    fold = _Fold(uuid.uuid4().hex)
    events = 0
    group: list[MessageEvent] = []
    cursor = db.events.find({}, {"_id": 0}).sort([("messageId", 1), ("version", 1)])
    async for doc in cursor.batch_size(BATCH):
        event = MessageEvent.model_validate(doc)
        if not projectable(event):
            continue
        events += 1
        if group and group[0].message_id != event.message_id:
            fold.message(group)
            group = []
        group.append(event)
        if len(fold.message_docs) >= BATCH:
            await db[MESSAGES].bulk_write(_replace_all(fold.message_docs), ordered=False)
            fold.message_docs.clear()
            await lease.renew()
        if progress and events % BATCH == 0:
            progress(events)
    if group:
        fold.message(group)
    if fold.message_docs:
        await db[MESSAGES].bulk_write(_replace_all(fold.message_docs), ordered=False)
    changed = await _write_accounts(db, fold)
    await db[MESSAGES].delete_many({"rebuild": {"$nin": [fold.generation]}})
    if progress:
        progress(events)
    return {
        "events": events,
        "messages": fold.messages,
        "accounts": len(fold.accounts),
        "users": len({doc["userId"] for doc in fold.accounts.values()}),
        "changedAccounts": changed,
        "seconds": round(time.monotonic() - started, 3),
    }


async def _write_accounts(db: Database, fold: _Fold) -> int:
    """Replace every account doc; return how many differed from what was there."""
    before = {doc["_id"]: doc async for doc in db[ACCOUNTS].find({})}
    changed = sum(
        1 for account_id, doc in fold.accounts.items()
        if _counters(before.get(account_id)) != _counters(doc)
    )
    changed += sum(1 for account_id in before if account_id not in fold.accounts)
    if fold.accounts:
        await db[ACCOUNTS].bulk_write(_replace_all(fold.accounts.values()), ordered=False)
    await db[ACCOUNTS].delete_many({"rebuild": {"$nin": [fold.generation]}})
    return changed


def _counters(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The counter fields, with zero day entries dropped (a day of zeros is no day)."""
    if doc is None:
        return None
    fields = {key: doc.get(key) for key in COUNTER_FIELDS}
    fields["days"] = {
        day: {k: n for k, n in counts.items() if n}
        for day, counts in (doc.get("days") or {}).items()
        if any(counts.values())
    }
    return fields
