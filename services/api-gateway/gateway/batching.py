"""The accept path's group commits: daily-limit units and contact counts (messages are inserted
through the message store, which batches them the same way).

A request that finds no flush running for its key is written at once, alone; requests that
arrive while a flush runs wait for the next one, which writes them together. Under load, many
accepts share one round trip; when idle, nothing waits.
"""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from shared.batching import Batcher
from shared.db import Database


def usage_batcher(db: Database) -> Batcher[tuple[str, int], None, bool]:
    """Takes units of a daily limit, many at once: ``submit((usage_id, limit), None)`` → granted.

    One ``$inc`` of the batch size; the count after it says how many fit under the limit, in
    arrival order, and the surplus is given back. Every increment is atomic, so the grants of
    all batches in all processes together never exceed the limit.
    """

    async def flush(key: tuple[str, int], items: list[None]) -> list[bool | BaseException]:
        usage, limit = key
        wanted = len(items)
        doc = await _increment(db, usage, wanted)
        before = int(doc["count"]) - wanted
        granted = max(0, min(wanted, limit - before))
        if granted < wanted:
            await db.daily_usage.update_one({"_id": usage}, {"$inc": {"count": granted - wanted}})
        return [index < granted for index in range(wanted)]

    return Batcher(flush)


async def _increment(db: Database, usage: str, amount: int) -> dict[str, Any]:
    for attempt in range(2):
        try:
            doc = await db.daily_usage.find_one_and_update(
                {"_id": usage}, {"$inc": {"count": amount}}, upsert=True,
                return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:  # two first upserts of the day raced: the other one won
            if attempt:
                raise
            continue
        if doc is not None:
            return doc
    raise RuntimeError("daily usage counter could not be incremented")


def contact_batcher(db: Database) -> Batcher[str, tuple[str, Any], None]:
    """Counts sends on contacts: one ``bulk_write`` per batch (``totalMessages``, last time)."""

    async def flush(_: str, items: list[tuple[str, Any]]) -> list[BaseException | None]:
        counts: dict[str, tuple[int, Any]] = {}
        for contact_id, at in items:
            count, last = counts.get(contact_id, (0, at))
            counts[contact_id] = (count + 1, max(last, at))
        await db.contacts.bulk_write([
            UpdateOne({"_id": contact_id}, {"$inc": {"totalMessages": count},
                                            "$set": {"lastMessageAt": last, "updatedAt": last}})
            for contact_id, (count, last) in counts.items()
        ], ordered=False)
        return [None] * len(items)

    return Batcher(flush)
