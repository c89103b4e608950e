"""Event recovery on the embedded database: a writer killed between a status change and its
event leaves ``eventPending``; the sweep finds the message (by ``statusChangedMs``, a number,
since nx-27017 stores an operator-set date as a string: docs/DEVIATIONS.md) and publishes the
event."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from shared.broker import Broker
from shared.db import Database
from shared.models import MessageStatus, utcnow
from shared.settings import Settings
from shared.store import EventOutbox, sweep_pending_events
from tests.conftest import eventually
from tests.integration.shared.test_store import move, subscribe

pytestmark = pytest.mark.integration


def queued(message_id: str, minutes_ago: float) -> dict:
    at = utcnow() - timedelta(minutes=minutes_ago)
    return {"_id": message_id, "userId": "u1", "whatsappAccountId": "a1", "contactId": "c1",
            "direction": "Outbound", "type": "Text", "content": "hi", "status": "Queued",
            "version": 1, "previousStatus": None, "statusChangedAt": at, "eventPending": True,
            "createdAt": at, "updatedAt": at, "attempts": 0}


async def killed_after_transition(db: Database, message_id: str) -> None:
    """A writer that moved the message to Sent five minutes ago and died before its event:
    the transition is written, the outbox never heard of it."""
    await db.messages.insert_one(queued(message_id, minutes_ago=6))
    doc = await db.messages.find_one({"_id": message_id})
    await db.messages.update_one({"_id": message_id}, {"$unset": {"eventPending": ""}})
    doc.pop("eventPending")
    past = utcnow() - timedelta(minutes=5)
    await move(db, doc, MessageStatus.SENT, fields={"statusChangedAt": past})


class TestSweepOnTheEmbeddedDatabase:
    async def test_a_status_change_without_its_event_is_published_by_the_sweep(
        self, db: Database, broker: Broker, settings: Settings
    ) -> None:
        connection, seen = await subscribe(settings)
        await killed_after_transition(db, "crashed-1")
        await db.messages.insert_one(queued("inserted-only", minutes_ago=5))
        await db.messages.insert_one(queued("fresh", minutes_ago=0))  # its writer is alive
        outbox = EventOutbox(db, broker)
        outbox.start()
        try:
            assert await sweep_pending_events(db, outbox, older_than=10) == 2
            await outbox.drained()
            await eventually(lambda: asyncio.sleep(0, result=len(seen) == 2), timeout=10,
                             message="both recovered events published")
            by_id = {event["eventId"]: event for event in seen}
            assert set(by_id) == {"crashed-1:2", "inserted-only:1"}
            assert by_id["crashed-1:2"]["type"] == "message.sent"
            assert by_id["crashed-1:2"]["previousStatus"] == "Queued"
            assert await db.events.find_one({"_id": "crashed-1:2"}) is not None
            stored = await db.messages.find_one({"_id": "crashed-1"})
            assert "eventPending" not in stored
            assert await sweep_pending_events(db, outbox, older_than=10) == 0
        finally:
            await outbox.stop()
            await connection.close()
