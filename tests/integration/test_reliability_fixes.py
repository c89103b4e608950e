"""Bugs the fault suite found, pinned where they live, on the real embedded database."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from sender.context import stored_seconds
from shared.db import Database
from shared.message_store import MongoMessageStore

pytestmark = pytest.mark.integration


class TestPacingSeedAfterRestart:
    """A sender that starts (again) seeds each account's window from the stored attempts. The
    times are read from the numeric ``attemptedMs``: nx-27017 hands back ``attemptedAt`` written
    by ``$set`` as a string, which once made the seed raise and every send of the account go to
    the dead-letter queue (found by ``tests/chaos``: kill -9 of the sender). Live claims count."""

    async def test_seeds_from_attempt_times_and_live_claims(self, db: Database) -> None:
        now = time.time()
        attempted = datetime.fromtimestamp(now - 5, UTC).replace(microsecond=0)
        await db.messages.insert_many([
            {"_id": "m1", "whatsappAccountId": "acc", "attempts": 2, "status": "Sent"},
            {"_id": "m2", "whatsappAccountId": "acc", "attempts": 1, "status": "Queued",
             "claimUntil": int((now + 30) * 1000)},
            {"_id": "m3", "whatsappAccountId": "acc", "attempts": 1, "status": "Sent",
             "attemptedMs": int((now - 120) * 1000)},
        ])
        await db.messages.update_one({"_id": "m1"}, {"$set": {
            "attemptedAt": attempted, "attemptedMs": int(attempted.timestamp() * 1000)}})

        times = await MongoMessageStore(db).recent_attempts("acc", now=now, window=61)

        assert sorted(times) == [pytest.approx(attempted.timestamp() + 0.001)] * 2 + [now]

    def test_reads_both_shapes_as_utc(self) -> None:
        when = datetime(2026, 12, 1, 9, 25, 21, 14000, tzinfo=UTC)
        assert stored_seconds(when) == when.timestamp()
        assert stored_seconds("2026-12-01 09:25:21.014000") == when.timestamp()
        assert stored_seconds("not a date") is None
        assert stored_seconds(None) is None
