"""nx-27017 stores a boolean written by an update operator as the integer 1 (docs/DEVIATIONS.md).

Relay never compares such a flag by type: equality queries on ``True`` still find it."""

from __future__ import annotations

import pytest
from pymongo import UpdateOne

from shared.db import Database

pytestmark = pytest.mark.integration


class TestBooleanSetByUpdate:
    """``$set: {flag: True}`` reads back as ``True`` (MongoDB) or ``1`` (nx-27017 0.8.1), and
    ``{flag: True}`` / ``{flag: {$ne: True}}`` select it correctly on both."""

    async def test_update_one_and_bulk_write_store_true_or_one(self, db: Database) -> None:
        await db.pin.insert_many([{"_id": "a", "flag": False}, {"_id": "b", "flag": False}])
        await db.pin.update_one({"_id": "a"}, {"$set": {"flag": True}})
        await db.pin.bulk_write([UpdateOne({"_id": "b"}, {"$set": {"flag": True}})])
        stored = [doc["flag"] for doc in await db.pin.find({}).sort("_id").to_list()]
        assert stored in ([True, True], [1, 1])
        assert all(value == True for value in stored)  # noqa: E712 -- 1 == True on purpose

    async def test_equality_queries_find_it(self, db: Database) -> None:
        await db.pin.insert_many([{"_id": "a", "flag": False}, {"_id": "b", "flag": False}])
        await db.pin.update_one({"_id": "a"}, {"$set": {"flag": True}})
        assert [d["_id"] async for d in db.pin.find({"flag": True})] == ["a"]
        assert [d["_id"] async for d in db.pin.find({"flag": {"$ne": True}})] == ["b"]

    async def test_inserted_booleans_stay_booleans(self, db: Database) -> None:
        await db.pin.insert_one({"_id": "c", "flag": True})
        assert (await db.pin.find_one({"_id": "c"}))["flag"] is True
