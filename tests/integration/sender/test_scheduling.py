"""Scheduled messages go out at their time (not before, within a second after), across a
sender restart, and not at all once cancelled."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from shared.message_store import MongoMessageStore
from shared.messages import Message
from shared.models import MessageStatus
from tests.conftest import eventually
from tests.integration.sender.support import Seeder

pytestmark = pytest.mark.integration


def in_seconds(seconds: float) -> datetime:
    moment = datetime.fromtimestamp(time.time() + seconds, UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


async def sent_at(seeder: Seeder, sim, doc: dict, timeout: float = 10.0) -> float:
    async def check() -> float | None:
        records = await sim.sends_of(doc["_id"])
        return records[0]["at"] if records else None
    return await eventually(check, timeout=timeout, message="scheduled send")


class TestScheduling:
    """``scheduledFor`` defers the send through the delay queues until its time."""

    async def test_sent_within_a_second_after_its_time(self, seeder, sim, sender):
        account = await seeder.account()
        when = in_seconds(3)
        [doc] = await seeder.messages(account, scheduled_for=when)
        await seeder.publish(doc)
        at = await sent_at(seeder, sim, doc)
        assert when.timestamp() <= at < when.timestamp() + 1.0
        assert (await seeder.status(doc))["status"] == "Sent"

    async def test_survives_a_sender_restart(self, seeder, sim, senders):
        first = await senders.start()
        account = await seeder.account()
        when = in_seconds(3)
        [doc] = await seeder.messages(account, scheduled_for=when)
        await seeder.publish(doc)
        await asyncio.sleep(0.5)  # let the first sender take and defer it
        await senders.stop(first)
        assert await sim.sends_of(doc["_id"]) == []
        await senders.start()
        at = await sent_at(seeder, sim, doc)
        assert when.timestamp() <= at < when.timestamp() + 1.0

    async def test_a_cancelled_message_is_not_sent(self, seeder, sim, sender, db):
        account = await seeder.account()
        when = in_seconds(2)
        [doc, marker] = await seeder.messages(account, 2, scheduled_for=when)
        await seeder.publish(doc)
        await seeder.publish(marker)
        stored = await seeder.status(doc)
        cancelled = await MongoMessageStore(db).move(
            Message.from_doc(stored), MessageStatus.CANCELLED, fields={"errorMessage": "Cancelled"})
        assert cancelled is not None
        await sent_at(seeder, sim, marker)  # the other one went at that time
        assert await sim.sends_of(doc["_id"]) == []
        assert (await seeder.status(doc))["status"] == "Cancelled"
