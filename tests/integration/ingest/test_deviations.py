"""nx-27017 stores a datetime written by an update operator at the top level as a string.

Pinned here because ingest (and ``MessageStore.move``) write ``sentAt``, ``deliveredAt``,
``readAt``, ``statusChangedAt`` and a contact's ``lastMessageAt`` with ``$set``/``$max``.
See docs/DEVIATIONS.md.
"""

from __future__ import annotations

from datetime import timedelta

from shared.db import Database
from shared.models import as_utc, utcnow


class TestDatesThroughUpdateOperators:
    """Inserted dates stay dates; ``$set``/``$max`` of a top-level date is one of two shapes."""

    async def test_set_of_a_top_level_date_is_one_of_two_shapes(self, db: Database) -> None:
        now = utcnow()
        await db.pin_dates.insert_one({"_id": "d", "inserted": now})
        await db.pin_dates.update_one({"_id": "d"}, {"$set": {"set": now, "nested": {"at": now}}})
        await db.pin_dates.update_one({"_id": "d"}, {"$max": {"maxed": now}})
        doc = await db.pin_dates.find_one({"_id": "d"})
        assert doc is not None
        assert doc["inserted"] == now and doc["nested"]["at"] == now
        as_text = now.replace(tzinfo=None).isoformat(sep=" ")
        assert doc["set"] in (now, as_text)    # MongoDB: the date; nx-27017 0.8.1: a string
        assert doc["maxed"] in (now, as_text)

    async def test_a_range_query_misses_a_set_date_on_nx(self, db: Database) -> None:
        now = utcnow()
        await db.pin_dates.insert_one({"_id": "r"})
        await db.pin_dates.update_one({"_id": "r"}, {"$set": {"at": now}})
        found = await db.pin_dates.count_documents({"at": {"$lt": now + timedelta(seconds=1)}})
        stored = (await db.pin_dates.find_one({"_id": "r"}) or {})["at"]
        # MongoDB: a date, found; nx-27017 0.8.1: a string, which a date range never matches.
        assert (type(stored).__name__, found) in (("datetime", 1), ("str", 0))


class TestMaxOverAStringDate:
    """The customer window (``lastInboundAt``, ``windowExpiresAt``) relies on ``$max`` staying
    monotonic although nx-27017 stores its result as a string: the later time always wins."""

    async def test_max_keeps_the_later_time_in_either_shape(self, db: Database) -> None:
        now = utcnow().replace(microsecond=0)
        await db.pin_dates.insert_one({"_id": "m", "at": None})
        for at in (now, now - timedelta(hours=1), now + timedelta(seconds=1),
                   now + timedelta(milliseconds=500)):
            await db.pin_dates.update_one({"_id": "m"}, {"$max": {"at": at}})
        doc = await db.pin_dates.find_one({"_id": "m"})
        assert doc is not None
        assert as_utc(doc["at"]) == now + timedelta(seconds=1)
