"""The MongoDB adapter of :class:`sender.ports.DailySendsPort`: ``daily_sends``.

One flat document per account and UTC send day, ``{_id: "<accountId>:<YYYY-MM-DD>", accountId,
day, count}``. Units are taken by a conditional upsert that adds ``n`` only while
``count <= limit - n``, so the count never passes the limit, whatever runs concurrently. Sends
waiting at once share one write (:class:`shared.batching.Batcher`, keyed by the document): a
batch asks for as many units as it has sends, and when the day has fewer left, for what is left
(read back), first come first served.

A conditional upsert that cannot match an existing document raises ``DuplicateKeyError`` on
MongoDB and returns ``None`` on the embedded server (docs/DEVIATIONS.md): both mean "not that
many left". ``$set`` rather than ``$setOnInsert`` for ``accountId`` and ``day``: the embedded
server ignores ``$setOnInsert`` in ``find_one_and_update`` upserts.
"""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from sender.daily import send_day_id
from shared.batching import Batcher
from shared.db import Database

# Each failed round means other senders took units meanwhile; the count only grows up to the
# limit, so this is never reached in practice. Past it the batch is refused (never over-granted).
MAX_ROUNDS = 32

Key = tuple[str, str, int]  # account id, day, limit


class MongoDailySends:
    """Per-account, per-UTC-day send units in ``daily_sends``."""

    def __init__(self, db: Database) -> None:
        self._sends = db.daily_sends
        self._batcher: Batcher[Key, None, bool] = Batcher(self._flush)

    async def take(self, account_id: str, day: str, limit: int) -> bool:
        if limit <= 0:
            return False
        return await self._batcher.submit((account_id, day, limit), None)

    async def give_back(self, account_id: str, day: str) -> None:
        await self._sends.update_one({"_id": send_day_id(account_id, day), "count": {"$gte": 1}},
                                     {"$inc": {"count": -1}})

    async def count(self, account_id: str, day: str) -> int:
        doc = await self._sends.find_one({"_id": send_day_id(account_id, day)})
        return int(doc.get("count", 0)) if doc else 0

    async def _flush(self, key: Key, items: list[None]) -> list[bool | BaseException]:
        account_id, day, limit = key
        granted = await self._take(account_id, day, limit, len(items))
        return [index < granted for index in range(len(items))]

    async def _take(self, account_id: str, day: str, limit: int, wanted: int) -> int:
        """Up to ``wanted`` units, never past ``limit``: how many were taken."""
        doc_id = send_day_id(account_id, day)
        ask = min(wanted, limit)
        for _ in range(MAX_ROUNDS):
            if ask <= 0:
                return 0
            try:
                doc: dict[str, Any] | None = await self._sends.find_one_and_update(
                    {"_id": doc_id, "count": {"$lte": limit - ask}},
                    {"$inc": {"count": ask}, "$set": {"accountId": account_id, "day": day}},
                    upsert=True, return_document=ReturnDocument.AFTER)
            except DuplicateKeyError:  # MongoDB: it exists with fewer than ``ask`` left
                doc = None
            if doc is not None:
                return ask
            current = await self._sends.find_one({"_id": doc_id}, {"count": 1})
            ask = min(wanted, limit - (int(current.get("count", 0)) if current else 0))
        return 0
