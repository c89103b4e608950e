"""The projection's MongoDB adapter: ``stats_messages`` and ``stats_accounts``.

Written for nx-27017 as well as MongoDB (docs/DEVIATIONS.md): array non-membership is ``$nin``
(``$ne`` on an array misbehaves in find/update filters there), "no pending" is a missing field
(``{f: null}`` does not match a stored null there), and account docs are inserted zero-filled
before any dotted ``$inc``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from pymongo.errors import DuplicateKeyError

from shared.db import Database
from stats.counters import Delta, Snapshot, empty_account

MESSAGES = "stats_messages"
ACCOUNTS = "stats_accounts"


class MongoProjectionStore:
    """:class:`stats.projection.ProjectionStore` over MongoDB, one atomic write per step."""

    def __init__(self, db: Database) -> None:
        self._messages = db[MESSAGES]
        self._accounts = db[ACCOUNTS]

    async def load(self, message_id: str) -> dict[str, Any] | None:
        return await self._messages.find_one({"_id": message_id})

    async def create(self, doc: dict[str, Any]) -> bool:
        try:
            await self._messages.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def claim(
        self, message_id: str, *, seen_version: int, version: int,
        snapshot: Snapshot, pending: dict[str, Any],
    ) -> bool:
        result = await self._messages.update_one(
            {
                "_id": message_id,
                "version": seen_version,
                "applied": {"$nin": [version]},
                "pending": {"$exists": False},
            },
            {
                "$addToSet": {"applied": version},
                "$set": {
                    "version": snapshot.version,
                    "status": snapshot.status.value,
                    "pending": pending,
                },
            },
        )
        return result.matched_count == 1

    async def ensure_account(self, account_id: str, user_id: str) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self._accounts.insert_one(empty_account(account_id, user_id))

    async def account_exists(self, account_id: str) -> bool:
        return await self._accounts.find_one({"_id": account_id}, {"_id": 1}) is not None

    async def increment(self, account_id: str, token: str, inc: Delta) -> bool:
        update: dict[str, Any] = {"$addToSet": {"inflight": token}}
        if inc:
            update["$inc"] = inc
        result = await self._accounts.update_one(
            {"_id": account_id, "inflight": {"$nin": [token]}}, update
        )
        return result.matched_count == 1

    async def settle(self, message_id: str, version: int) -> None:
        await self._messages.update_one(
            {"_id": message_id, "pending.version": version}, {"$unset": {"pending": ""}}
        )

    async def release(self, account_id: str, token: str) -> None:
        await self._accounts.update_one({"_id": account_id}, {"$pull": {"inflight": token}})

    async def pending(self) -> AsyncIterator[dict[str, Any]]:
        async for doc in self._messages.find({"pending": {"$exists": True}}):
            yield doc

    async def held_tokens(self) -> list[tuple[str, list[str]]]:
        # Accounts are few; filtering here avoids relying on array-index queries.
        cursor = self._accounts.find({}, {"inflight": 1})
        return [(doc["_id"], list(doc["inflight"])) async for doc in cursor if doc.get("inflight")]
