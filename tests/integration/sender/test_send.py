"""The send path against the real broker, database and simulator."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import eventually
from tests.integration.sender.support import Seeder

pytestmark = pytest.mark.integration


async def until_status(seeder: Seeder, doc: dict, status: str, timeout: float = 10.0) -> dict:
    async def check() -> dict | None:
        found = await seeder.status(doc)
        return found if found["status"] == status else None
    return await eventually(check, timeout=timeout, message=f"{doc['_id']} {status}")


class TestSendPath:
    """A queued message is sent once, and Sent is recorded with its wamid."""

    async def test_sends_and_records_the_wamid(self, seeder, sim, sender):
        account = await seeder.account()
        [doc] = await seeder.messages(account, content="hi there")
        await seeder.publish(doc)
        sent = await until_status(seeder, doc, "Sent")
        [record] = await sim.sends_of(doc["_id"])
        assert sent["whatsappMessageId"] == record["wamid"]
        assert sent["attempts"] == 1 and "claimedBy" not in sent
        assert record["payload"]["text"]["body"] == "hi there"
        assert record["to"].lstrip("+") == "15551234567"
        assert sent["sentAt"] is not None and sent["attemptedAt"] is not None

    async def test_the_sent_event_is_recorded(self, seeder, sim, sender, db):
        account = await seeder.account()
        [doc] = await seeder.messages(account)
        await seeder.publish(doc)
        await until_status(seeder, doc, "Sent")
        event = await eventually(lambda: db.events.find_one({"_id": f"{doc['_id']}:2"}))
        assert event["type"] == "message.sent"

    async def test_redelivered_commands_send_once(self, seeder, sim, sender):
        account = await seeder.account()
        docs = await seeder.messages(account, 20)
        await asyncio.gather(*(seeder.publish(d) for d in docs for _ in range(5)))
        for doc in docs:
            await until_status(seeder, doc, "Sent")
        await asyncio.sleep(0)  # the duplicates are handled concurrently with the first
        counts = await eventually(sim.counts)
        assert {counts.get(d["_id"]) for d in docs} == {1}

    async def test_a_command_for_a_message_past_queued_is_dropped(self, seeder, sim, sender, db):
        account = await seeder.account()
        [doc] = await seeder.messages(account, status="Failed", errorMessage="Cancelled")
        [marker] = await seeder.messages(account)
        await seeder.publish(doc)
        await seeder.publish(marker)
        await until_status(seeder, marker, "Sent")
        assert await sim.sends_of(doc["_id"]) == []
        assert (await seeder.status(doc))["status"] == "Failed"

    async def test_two_senders_never_send_one_message_twice(self, seeder, sim, senders):
        await senders.start()
        await senders.start()
        account = await seeder.account()
        docs = await seeder.messages(account, 30)
        await asyncio.gather(*(seeder.publish(d) for d in docs for _ in range(3)))
        for doc in docs:
            await until_status(seeder, doc, "Sent")
        counts = await sim.counts()
        assert all(counts[d["_id"]] == 1 for d in docs)


class TestReadReceipts:
    """MarkRead reaches the Cloud API."""

    async def test_mark_read_reaches_the_simulator(self, seeder, sim, sender, broker):
        from shared import topology
        from shared.models import MarkRead

        account = await seeder.account()
        command = MarkRead(message_id="m1", whatsapp_account_id=account["_id"],
                           whatsapp_message_id="wamid.inbound-1")
        key = topology.shard_key(topology.shard_of(account["_id"], broker.shards))
        await broker.publish(topology.SEND, key, command)
        async def receipt() -> bool:
            return "wamid.inbound-1" in str(await sim.call("GET", "reads"))
        assert await eventually(receipt, message="read receipt at the simulator")
