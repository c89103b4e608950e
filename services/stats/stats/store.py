"""The projection's MongoDB adapter: ``stats_messages`` and ``stats_accounts``.

Written for nx-27017 as well as MongoDB (docs/DEVIATIONS.md): array non-membership is ``$nin``
(``$ne`` on an array misbehaves in find/update filters there), "no pending" is a missing field
(``{f: null}`` does not match a stored null there), and account docs are inserted zero-filled
before any dotted ``$inc``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.db import Database
from stats.counters import Delta, Snapshot, empty_account
from stats.projection import Claim

MESSAGES = "stats_messages"
ACCOUNTS = "stats_accounts"
META = "stats_meta"
REBUILD_LEASE = "rebuild"


def _claim_update(claim: Claim) -> tuple[dict[str, Any], dict[str, Any]]:
    """Step A's filter and update: the doc as read, the version not applied, nothing pending."""
    return (
        {
            "_id": claim.message_id,
            "version": claim.seen_version,
            "applied": {"$nin": [claim.version]},
            "pending": {"$exists": False},
        },
        {
            "$addToSet": {"applied": claim.version},
            "$set": {
                "version": claim.snapshot.version,
                "status": claim.snapshot.status.value,
                "pending": claim.pending,
            },
        },
    )


class MongoProjectionStore:
    """:class:`stats.projection.ProjectionStore` over MongoDB, one atomic write per step."""

    def __init__(self, db: Database) -> None:
        self._messages = db[MESSAGES]
        self._accounts = db[ACCOUNTS]
        self._meta = db[META]

    async def paused(self) -> bool:
        lease = await self._meta.find_one({"_id": REBUILD_LEASE})
        return lease is not None and lease["until"] > datetime.now(UTC)

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
        claim = Claim(message_id, version, seen_version, snapshot, pending)
        result = await self._messages.update_one(*_claim_update(claim))
        return result.matched_count == 1

    async def ensure_account(self, account_id: str, user_id: str) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self._accounts.insert_one(empty_account(account_id, user_id))

    async def account_exists(self, account_id: str) -> bool:
        return await self._accounts.find_one({"_id": account_id}, {"_id": 1}) is not None

    async def increment(self, account_id: str, tokens: list[str], inc: Delta) -> bool:
        update: dict[str, Any] = {"$addToSet": {"inflight": {"$each": tokens}}}
        if inc:
            update["$inc"] = inc
        result = await self._accounts.update_one(
            {"_id": account_id, "inflight": {"$nin": tokens}}, update
        )
        return result.matched_count == 1

    async def settle(self, message_id: str, version: int) -> None:
        await self._messages.update_one(
            {"_id": message_id, "pending.version": version}, {"$unset": {"pending": ""}}
        )

    async def release(self, account_id: str, tokens: list[str]) -> None:
        await self._accounts.update_one(
            {"_id": account_id}, {"$pull": {"inflight": {"$in": tokens}}}
        )

    async def load_many(self, message_ids: list[str]) -> dict[str, dict[str, Any]]:
        cursor = self._messages.find({"_id": {"$in": message_ids}})
        return {doc["_id"]: doc async for doc in cursor}

    async def claim_many(self, claims: list[Claim]) -> set[str]:
        ops = [InsertOne(c.doc) if c.doc is not None else UpdateOne(*_claim_update(c))
               for c in claims]
        try:
            result = await self._messages.bulk_write(ops, ordered=False)
            done = result.inserted_count + result.matched_count
        except BulkWriteError as exc:  # duplicate inserts: another writer created the doc
            done = exc.details["nInserted"] + exc.details["nMatched"]
        if done == len(claims):
            return {c.message_id for c in claims}
        # Some did not match: the docs say which (only a claim sets pending to its version).
        docs = await self.load_many([c.message_id for c in claims])
        return {
            c.message_id for c in claims
            if docs.get(c.message_id, {}).get("pending", {}).get("version") == c.version
        }

    async def settle_many(self, settled: list[tuple[str, int]]) -> None:
        if settled:
            await self._messages.bulk_write([
                UpdateOne({"_id": m, "pending.version": v}, {"$unset": {"pending": ""}})
                for m, v in settled
            ], ordered=False)

    async def pending(self) -> AsyncIterator[dict[str, Any]]:
        # Versions start at 1; a range query uses the sparse index on pending.version.
        async for doc in self._messages.find({"pending.version": {"$gte": 0}}):
            yield doc

    async def held_tokens(self) -> list[tuple[str, list[str]]]:
        # Accounts are few; filtering here avoids relying on array-index queries.
        cursor = self._accounts.find({}, {"inflight": 1})
        return [(doc["_id"], list(doc["inflight"])) async for doc in cursor if doc.get("inflight")]
