"""The event outbox records, publishes and settles each status change in few writes."""

from __future__ import annotations

from typing import Any

import pytest

from shared import topology
from shared.broker import Broker
from shared.db import Database
from shared.models import utcnow
from shared.store import EventOutbox

pytestmark = pytest.mark.integration


def queued(message_id: str) -> dict[str, Any]:
    now = utcnow()
    return {"_id": message_id, "userId": "u1", "whatsappAccountId": "a1", "contactId": "c1",
            "direction": "Outbound", "type": "Text", "status": "Queued", "version": 1,
            "previousStatus": None, "createdAt": now, "updatedAt": now, "statusChangedAt": now,
            "eventPending": True, "dispatched": False}


async def settle(db: Database, broker: Broker, doc: dict[str, Any]) -> None:
    outbox = EventOutbox(db, broker, interval=0.01)
    outbox.start()
    outbox.add(doc, dispatched=True)
    await outbox.stop()


class TestOutboxSettles:
    """After a flush the event is logged and published, ``eventPending`` of that version is
    cleared and the send is marked dispatched — also when the message moved on meanwhile."""

    async def test_logs_publishes_clears_and_marks_dispatched(
        self, db: Database, broker: Broker
    ) -> None:
        doc = queued("m1")
        await db.messages.insert_one(doc)
        await settle(db, broker, doc)
        stored = await db.messages.find_one({"_id": "m1"})
        assert stored is not None
        assert "eventPending" not in stored
        assert stored["dispatched"] == True  # noqa: E712 -- nx-27017 stores 1
        assert await db.events.find_one({"_id": "m1:1"}) is not None
        assert await broker.queue_depth(topology.STATS_QUEUE) == 1

    async def test_a_message_that_moved_on_keeps_its_newer_pending_event(
        self, db: Database, broker: Broker
    ) -> None:
        doc = queued("m2")
        await db.messages.insert_one({**doc, "status": "Sent", "version": 2,
                                      "previousStatus": "Queued"})
        await settle(db, broker, doc)
        stored = await db.messages.find_one({"_id": "m2"})
        assert stored is not None
        assert stored["eventPending"] is True
        # Sent already: its command was consumed, so no write marks it dispatched.
        assert not stored["dispatched"]
        assert await db.events.find_one({"_id": "m2:1"}) is not None


class TestSettleCoalesces:
    """A message that moves on within the settle delay is cleared once, by its newest event."""

    async def test_only_the_newest_version_is_settled(
        self, db: Database, broker: Broker
    ) -> None:
        doc = queued("m3")
        await db.messages.insert_one({**doc, "status": "Read", "version": 3})
        outbox = EventOutbox(db, broker, interval=0.01, settle_delay=5.0)
        outbox.start()
        for version, status in ((1, "Queued"), (2, "Sent"), (3, "Read")):
            outbox.add({**doc, "version": version, "status": status})
        await outbox.stop()
        stored = await db.messages.find_one({"_id": "m3"})
        assert stored is not None and "eventPending" not in stored
        assert {e["_id"] async for e in db.events.find({"messageId": "m3"})} == {
            "m3:1", "m3:2", "m3:3"}
        assert await broker.queue_depth(topology.STATS_QUEUE) == 3
