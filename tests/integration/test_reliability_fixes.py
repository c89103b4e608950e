"""Bugs the fault suite found, pinned where they live, on the real embedded database."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from sender.context import recent_attempts, stored_seconds
from shared.db import Database

pytestmark = pytest.mark.integration


class TestPacingSeedAfterRestart:
    """A sender that starts (again) seeds each account's window from the stored attempts, even
    though nx-27017 hands back ``attemptedAt`` written by ``$set`` as a string: before the fix
    the seed raised AttributeError and every send of the account went to the dead-letter queue
    (found by ``tests/chaos``: kill -9 of the sender, then nothing sent for that account)."""

    async def test_seeds_from_dates_stored_as_strings(self, db: Database) -> None:
        now = time.time()
        attempted = datetime.fromtimestamp(now - 5, UTC).replace(microsecond=0)
        await db.messages.insert_one({"_id": "m1", "whatsappAccountId": "acc", "attempts": 2,
                                      "status": "Sent"})
        await db.messages.update_one({"_id": "m1"}, {"$set": {"attemptedAt": attempted}})
        stored = (await db.messages.find_one({"_id": "m1"}))["attemptedAt"]

        times = await recent_attempts(db, "acc", now=now, claim_timeout=60)

        assert isinstance(stored, str | datetime)
        assert times == [pytest.approx(attempted.timestamp() + 0.001)] * 2

    def test_reads_both_shapes_as_utc(self) -> None:
        when = datetime(2026, 12, 1, 9, 25, 21, 14000, tzinfo=UTC)
        assert stored_seconds(when) == when.timestamp()
        assert stored_seconds("2026-12-01 09:25:21.014000") == when.timestamp()
        assert stored_seconds("not a date") is None
        assert stored_seconds(None) is None
