"""Deviations of nx-27017 the stats projection works around, pinned (docs/DEVIATIONS.md)."""

from __future__ import annotations

import pytest
from pymongo import ReplaceOne
from pymongo.errors import OperationFailure

from shared.db import Database

pytestmark = pytest.mark.integration


class TestArrayNonMembership:
    """``{arr: {$ne: x}}`` in find/update filters may match an array holding x; ``$nin`` never."""

    async def test_ne_on_an_array_in_an_update_filter_is_one_of_two_answers(self, db: Database):
        await db.pin.insert_one({"_id": "a", "inflight": ["m:1"]})
        result = await db.pin.update_one(
            {"_id": "a", "inflight": {"$ne": "m:1"}}, {"$set": {"x": 1}}
        )
        assert result.matched_count in (0, 1)  # MongoDB: 0; nx-27017 0.8.1: 1
        found = await db.pin.find_one({"_id": "a", "inflight": {"$ne": "m:1"}})
        assert found is None or found["_id"] == "a"

    async def test_nin_is_right_on_both(self, db: Database):
        await db.pin.insert_one({"_id": "b", "inflight": ["m:1"], "applied": [1, 2]})
        miss = await db.pin.update_one(
            {"_id": "b", "inflight": {"$nin": ["m:1"]}}, {"$set": {"x": 1}}
        )
        assert miss.matched_count == 0
        assert await db.pin.find_one({"_id": "b", "applied": {"$nin": [2]}}) is None
        hit = await db.pin.update_one(
            {"_id": "b", "inflight": {"$nin": ["m:2"]}}, {"$set": {"x": 1}}
        )
        assert hit.matched_count == 1


class TestNullEquality:
    """``{f: null}`` may miss a stored null (MongoDB matches it); ``$exists`` is right on both."""

    async def test_null_equality_on_a_stored_null_is_one_of_two_answers(self, db: Database):
        await db.pin.insert_one({"_id": "n", "pending": None})
        assert await db.pin.count_documents({"_id": "n", "pending": None}) in (0, 1)

    async def test_exists_distinguishes_missing_from_present(self, db: Database):
        await db.pin.insert_many([{"_id": "gone"}, {"_id": "here", "pending": {"version": 1}}])
        assert await db.pin.count_documents({"pending": {"$exists": False}}) == 1
        assert [d["_id"] async for d in db.pin.find({"pending": {"$exists": True}})] == ["here"]


class TestReplaceUpsert:
    """A replace upsert may take a fresh ObjectId instead of the filter's ``_id``."""

    async def test_without_id_in_the_replacement_the_id_may_be_lost(self, db: Database):
        await db.pin.bulk_write([ReplaceOne({"_id": "r"}, {"n": 1}, upsert=True)])
        assert await db.pin.count_documents({}) == 1
        assert await db.pin.find_one({"_id": "r"}) in (None, {"_id": "r", "n": 1})

    async def test_with_id_in_the_replacement_it_is_right_on_both(self, db: Database):
        for n in (1, 2):
            await db.pin.bulk_write([ReplaceOne({"_id": "s"}, {"_id": "s", "n": n}, upsert=True)])
        assert await db.pin.find_one({"_id": "s"}) == {"_id": "s", "n": 2}


class TestNotOperator:
    """``$not`` may be unimplemented (an OperationFailure); Relay does not use it."""

    async def test_not_answers_or_fails_cleanly(self, db: Database):
        await db.pin.insert_one({"_id": "t", "v": 1})
        try:
            count = await db.pin.count_documents({"v": {"$not": {"$eq": 2}}})
        except OperationFailure:
            return  # nx-27017 0.8.1
        assert count == 1
