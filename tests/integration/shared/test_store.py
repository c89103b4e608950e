"""Status changes and their events: the outbox records each once; the sweep repairs a crash."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import aio_pika
import pytest

from shared import topology
from shared.broker import Broker
from shared.db import Database
from shared.message_store import MongoMessageStore
from shared.messages import Message, VersionConflict
from shared.models import MessageStatus, utcnow
from shared.store import EventOutbox, sweep_pending_events
from tests.conftest import eventually

pytestmark = pytest.mark.integration


def queued(message_id: str) -> dict:
    now = utcnow()
    return {
        "_id": message_id, "userId": "u1", "whatsappAccountId": "a1", "contactId": "c1",
        "direction": "Outbound", "type": "Text", "content": "hi", "status": "Queued",
        "version": 1, "previousStatus": None, "statusChangedAt": now, "eventPending": True,
        "createdAt": now, "updatedAt": now, "attempts": 0,
    }


async def subscribe(settings) -> tuple[aio_pika.abc.AbstractConnection, list[dict]]:
    connection = await aio_pika.connect(settings.amqp_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(topology.EVENTS, routing_key="message.#")
    seen: list[dict] = []

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        seen.append(json.loads(message.body))
        await message.ack()

    await queue.consume(on_message)
    return connection, seen


async def move(db: Database, doc: dict, target: MessageStatus, **kwargs) -> Message | None:
    """``doc`` (as read) moved through the message store."""
    return await MongoMessageStore(db).move(Message.from_doc(doc), target, **kwargs)


class TestTransition:
    """Forward moves are written once, with the previous status; stale writers are refused."""

    async def test_forward_move_records_previous_status_and_version(self, db: Database):
        await db.messages.insert_one(queued("m1"))
        doc = await db.messages.find_one({"_id": "m1"})
        new = await move(db, doc, MessageStatus.SENT, fields={"whatsappMessageId": "w1"})
        stored = await db.messages.find_one({"_id": "m1"})
        assert new is not None and new.version == stored["version"] == 2
        assert stored["previousStatus"] == "Queued" and stored["status"] == "Sent"

    async def test_backward_move_writes_nothing(self, db: Database):
        await db.messages.insert_one({**queued("m2"), "status": "Read", "version": 4})
        doc = await db.messages.find_one({"_id": "m2"})
        assert await move(db, doc, MessageStatus.DELIVERED) is None
        assert (await db.messages.find_one({"_id": "m2"}))["version"] == 4

    async def test_a_stale_read_is_a_conflict(self, db: Database):
        await db.messages.insert_one(queued("m3"))
        doc = await db.messages.find_one({"_id": "m3"})
        await move(db, doc, MessageStatus.SENT)
        with pytest.raises(VersionConflict):
            await move(db, doc, MessageStatus.FAILED)


class TestOutbox:
    """Each event is logged and published; a writer that died is repaired by the sweep."""

    async def test_events_are_logged_published_and_the_flag_cleared(
        self, db: Database, broker: Broker, settings
    ):
        connection, seen = await subscribe(settings)
        outbox = EventOutbox(db, broker)
        outbox.start()
        await db.messages.insert_one(queued("m4"))
        doc = await db.messages.find_one({"_id": "m4"})
        outbox.add(doc)
        new = await move(db, doc, MessageStatus.SENT)
        assert new is not None
        outbox.add(new.to_doc())
        await outbox.drained()
        await eventually(lambda: asyncio.sleep(0, result=len(seen) == 2), timeout=5)
        assert sorted(e["eventId"] for e in seen) == ["m4:1", "m4:2"]
        assert await db.events.count_documents({"messageId": "m4"}) == 2
        assert "eventPending" not in await db.messages.find_one({"_id": "m4"})
        await outbox.stop()
        await connection.close()

    async def test_sweep_records_the_event_a_crashed_writer_left(
        self, db: Database, broker: Broker, settings
    ):
        connection, seen = await subscribe(settings)
        await db.messages.insert_one(queued("m5"))
        doc = await db.messages.find_one({"_id": "m5"})
        past = utcnow() - timedelta(minutes=5)
        await move(db, doc, MessageStatus.SENT, fields={"statusChangedAt": past})
        outbox = EventOutbox(db, broker)
        outbox.start()
        assert await sweep_pending_events(db, outbox, older_than=10) == 1
        await outbox.drained()
        await eventually(lambda: asyncio.sleep(0, result=len(seen) == 1), timeout=5)
        assert seen[0]["eventId"] == "m5:2" and seen[0]["previousStatus"] == "Queued"
        assert await sweep_pending_events(db, outbox, older_than=10) == 0
        await outbox.stop()
        await connection.close()
