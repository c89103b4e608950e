"""Where the embedded server (nx-27017) deviates from MongoDB, pinned, with the form Relay uses
that is correct on both. See docs/DEVIATIONS.md."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from shared.db import Database, ensure_indexes

pytestmark = pytest.mark.integration

ONE_MINUTE = timedelta(minutes=1)


class TestDottedUpserts:
    """An upsert with a dotted path may store a literal dotted key; find_one_and_update doesn't."""

    async def test_update_one_upsert_with_dotted_path_is_one_of_two_shapes(self, db: Database):
        await db.pin.update_one({"_id": "a"}, {"$inc": {"days.d1.sent": 1}}, upsert=True)
        doc = await db.pin.find_one({"_id": "a"})
        assert doc in ({"_id": "a", "days": {"d1": {"sent": 1}}},  # MongoDB
                       {"_id": "a", "days.d1.sent": 1})             # nx-27017 0.8.1

    async def test_find_one_and_update_upsert_nests_correctly(self, db: Database):
        doc = await db.pin.find_one_and_update(
            {"_id": "b"}, {"$inc": {"days.d1.sent": 1}}, upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc == {"_id": "b", "days": {"d1": {"sent": 1}}}

    async def test_dotted_update_of_an_existing_document_nests_correctly(self, db: Database):
        await db.pin.insert_one({"_id": "c", "days": {}})
        await db.pin.update_one({"_id": "c"}, {"$inc": {"days.d1.sent": 2}})
        assert await db.pin.find_one({"_id": "c"}) == {"_id": "c", "days": {"d1": {"sent": 2}}}


class TestOrBesideFields:
    """A ``$or`` next to other fields is not ANDed with them; inside ``$and`` it is."""

    @pytest.fixture
    async def claims(self, db: Database) -> datetime:
        now = datetime.now(UTC)
        await db.pin.insert_many([
            {"_id": "free", "status": "Queued"},
            {"_id": "stale", "status": "Queued", "claimedBy": "p", "claimedAt": now - ONE_MINUTE},
            {"_id": "live", "status": "Queued", "claimedBy": "p", "claimedAt": now},
        ])
        return now - ONE_MINUTE / 2

    @staticmethod
    def claimable(stale: datetime) -> dict[str, Any]:
        return {"$or": [{"claimedBy": None}, {"claimedAt": {"$lt": stale}}]}

    async def test_or_beside_an_id_matches_other_documents(self, db: Database, claims):
        found = await db.pin.find({"_id": "live", **self.claimable(claims)}).to_list(None)
        assert [d["_id"] for d in found] in ([],         # MongoDB
                                             ["stale"])  # nx-27017 0.8.1

    async def test_or_inside_and_matches_only_its_document(self, db: Database, claims):
        for target, expected in (("free", ["free"]), ("stale", ["stale"]), ("live", [])):
            query = {"$and": [{"_id": target}, {"status": "Queued"}, self.claimable(claims)]}
            assert [d["_id"] for d in await db.pin.find(query).to_list(None)] == expected
            doc = await db.pin.find_one_and_update(query, {"$set": {"seen": 1}})
            assert (doc and doc["_id"]) == (expected[0] if expected else None)


class TestConditionalUpsert:
    """The daily limit's counter: a conditional upsert that cannot match must not create a twin."""

    async def test_full_counter_returns_none_or_raises_and_never_duplicates(self, db: Database):
        await db.pin.insert_one({"_id": "acc:day", "count": 3})
        try:
            result = await db.pin.find_one_and_update(
                {"_id": "acc:day", "count": {"$lt": 3}}, {"$inc": {"count": 1}}, upsert=True
            )
        except DuplicateKeyError:  # MongoDB
            result = None
        assert result is None  # nx-27017 returns None without inserting
        assert await db.pin.count_documents({}) == 1
        assert (await db.pin.find_one({"_id": "acc:day"}))["count"] == 3


class TestArrays:
    """$push of a subdocument is corrupted by nx-27017; $push of scalars and $addToSet work."""

    async def test_push_of_a_subdocument_is_one_of_two_shapes(self, db: Database):
        await db.pin.insert_one({"_id": "d", "arr": []})
        await db.pin.update_one({"_id": "d"}, {"$push": {"arr": {"k": 1}}})
        assert (await db.pin.find_one({"_id": "d"}))["arr"] in ([{"k": 1}], ['{"k":1}'])

    async def test_push_of_scalars_and_add_to_set_on_an_existing_array_work(self, db: Database):
        await db.pin.insert_one({"_id": "e", "arr": [], "set": []})
        await db.pin.update_one({"_id": "e"}, {"$push": {"arr": "s"}, "$addToSet": {"set": 3}})
        await db.pin.update_one({"_id": "e"}, {"$addToSet": {"set": 3}})
        assert await db.pin.find_one({"_id": "e"}) == {"_id": "e", "arr": ["s"], "set": [3]}

    async def test_add_to_set_on_a_missing_field_is_one_of_two_shapes(self, db: Database):
        await db.pin.insert_one({"_id": "f"})
        await db.pin.update_one({"_id": "f"}, {"$addToSet": {"set": 3}})
        assert await db.pin.find_one({"_id": "f"}) in (
            {"_id": "f", "set": [3]},  # MongoDB
            {"_id": "f"},              # nx-27017 0.8.1 silently does nothing
        )


class TestTimestamps:
    """Datetimes come back timezone-aware UTC (the client is created with tz_aware=True)."""

    async def test_datetimes_are_aware(self, db: Database):
        from shared.models import utcnow

        now = utcnow()
        await db.pin.insert_one({"_id": "t", "at": now})
        assert (await db.pin.find_one({"_id": "t"}))["at"] == now


class TestTextSearch:
    """``$text`` in a ``find`` answers from the text index (SQLite FTS5 there), quoted words
    ANDed as on MongoDB; inside an aggregate ``$match`` it counts nothing, so a search is counted
    by reading its ids (gateway/keyset.py ``count_upto``)."""

    @pytest.fixture
    async def texts(self, db: Database) -> None:
        await db.pin.create_index([("searchText", "text")], default_language="none")
        await db.pin.insert_many([
            {"_id": "a", "u": "x", "searchText": "red apples green pears"},
            {"_id": "b", "u": "x", "searchText": "red cars"},
            {"_id": "c", "u": "y", "searchText": "red pears"},
        ])

    async def test_quoted_words_all_match_in_a_find(self, db: Database, texts: None) -> None:
        found = await db.pin.find({"u": {"$eq": "x"}, "$text": {"$search": '"red" "pears"'}},
                                  sort=[("_id", -1)]).to_list()
        assert [d["_id"] for d in found] == ["a"]

    async def test_an_aggregate_match_on_text_counts_nothing(self, db: Database,
                                                             texts: None) -> None:
        rows = await (await db.pin.aggregate([
            {"$match": {"$text": {"$search": '"red"'}}}, {"$count": "n"}])).to_list()
        assert rows in ([{"n": 3}],  # MongoDB
                        [{"n": 0}])  # nx-27017 0.8.1


class TestIndexesAgain:
    """Every service runs ``ensure_indexes`` at start, on a store that has messages: a second
    ``create_index`` of the text index failed there on the embedded server ("constraint
    failed"), so a restarted sender could not start. Indexes already present are skipped."""

    async def test_a_restart_on_a_store_with_searchable_messages(self, db: Database) -> None:
        await db.messages.insert_one({"_id": "m1", "userId": "u", "searchText": "hello world"})
        await ensure_indexes(db)
        await ensure_indexes(db)
        found = await db.messages.find({"$text": {"$search": "hello"}}).to_list(None)
        assert [doc["_id"] for doc in found] == ["m1"]
