"""The MongoDB adapter of :class:`sender.leases.LeaseStore`.

Two small collections: ``senders`` (``{_id: process id, expiresAt}``) and ``sender_leases``
(``{_id: "relay.send.<n>", shard, owner, expiresAt}``). Expiries are epoch milliseconds
(numbers, never dates in a filter); every filter is plain equality and ranges beside ``_id``
(no ``$or``: the embedded server does not AND a ``$or`` with its siblings, docs/DEVIATIONS.md).
"""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from sender.leases import Lease
from shared.db import Database
from shared.topology import shard_queue

# A heartbeat this long expired belongs to a sender that is gone: its document is deleted.
FORGET_AFTER_MS = 60_000


class MongoLeaseStore:
    """Heartbeats and shard leases in MongoDB, one atomic single-document write each."""

    def __init__(self, db: Database) -> None:
        self._senders = db.senders
        self._leases = db.sender_leases

    async def heartbeat(self, sender: str, expires_ms: int) -> None:
        await self._senders.update_one(
            {"_id": sender}, {"$set": {"expiresAt": expires_ms}}, upsert=True)

    async def live_senders(self, now_ms: int) -> int:
        live, gone = 0, []
        async for doc in self._senders.find({}, {"expiresAt": 1}):
            expires = int(doc.get("expiresAt") or 0)
            if expires > now_ms:
                live += 1
            elif expires < now_ms - FORGET_AFTER_MS:
                gone.append(doc["_id"])
        if gone:
            await self._senders.delete_many({"_id": {"$in": gone}})
        return live

    async def leases(self) -> list[Lease]:
        return [_lease(doc) async for doc in self._leases.find({})]

    async def acquire(self, shard: int, sender: str, *, now_ms: int, expires_ms: int) -> bool:
        lease = {"shard": shard, "owner": sender, "expiresAt": expires_ms}
        taken = await self._leases.update_one(
            {"_id": shard_queue(shard), "expiresAt": {"$lte": now_ms}}, {"$set": lease})
        if taken.matched_count:
            return True
        try:  # never leased yet: the first insert wins, the others get a duplicate key
            await self._leases.insert_one({"_id": shard_queue(shard), **lease})
        except DuplicateKeyError:
            return False
        return True

    async def renew(self, shards: list[int], sender: str, *, now_ms: int,
                    expires_ms: int) -> None:
        await self._leases.update_many(
            {"_id": {"$in": [shard_queue(s) for s in shards]}, "owner": sender,
             "expiresAt": {"$gt": now_ms}},
            {"$set": {"expiresAt": expires_ms}})

    async def release(self, shard: int, sender: str) -> None:
        await self._leases.update_one({"_id": shard_queue(shard), "owner": sender},
                                      {"$set": {"owner": None, "expiresAt": 0}})

    async def leave(self, sender: str) -> None:
        await self._senders.delete_one({"_id": sender})


def _lease(doc: dict[str, Any]) -> Lease:
    return Lease(shard=int(doc["shard"]), owner=doc.get("owner"),
                 expires_ms=int(doc.get("expiresAt") or 0))
