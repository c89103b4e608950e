"""Nothing lost: the sweep republishes what was never published and reclaims dead senders'
claims; a new owner counts the previous owner's sends; poison goes to the dead-letter queue and
can be listed and replayed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from relay.deadletters import list_dead, replay_dead
from shared import topology
from shared.models import utcnow
from tests.conftest import eventually
from tests.integration.sender.support import Seeder

pytestmark = pytest.mark.integration


async def until_sent(seeder: Seeder, doc: dict, timeout: float = 15.0) -> dict:
    async def check() -> dict | None:
        found = await seeder.status(doc)
        return found if found["status"] == "Sent" else None
    return await eventually(check, timeout=timeout, message=f"{doc['_id']} Sent")


class TestSweeper:
    """Every sender sweeps; a message is never stranded."""

    async def test_a_message_never_published_is_sent(self, seeder, sim, sender):
        account = await seeder.account()
        [doc] = await seeder.messages(account, createdAt=utcnow() - timedelta(seconds=10))
        sent = await until_sent(seeder, doc)
        assert sent["dispatched"] and sent["attempts"] == 1  # 1, not True: docs/DEVIATIONS.md

    async def test_a_dead_senders_claim_is_taken_over(self, seeder, sim, sender):
        account = await seeder.account()
        stale = utcnow() - timedelta(minutes=5)
        [doc] = await seeder.messages(account, claimedBy="dead-sender", claimedAt=stale,
                                      attempts=1, dispatched=True)
        sent = await until_sent(seeder, doc)
        assert sent["attempts"] == 2 and len(await sim.sends_of(doc["_id"])) == 1

    async def test_a_live_claim_is_left_alone(self, seeder, sim, sender):
        account = await seeder.account()
        [doc] = await seeder.messages(account, claimedBy="busy-sender", claimedAt=utcnow(),
                                      attempts=1, dispatched=True)
        [marker] = await seeder.messages(account)
        await seeder.publish(doc)
        await seeder.publish(marker)
        await until_sent(seeder, marker)
        assert (await seeder.status(doc))["claimedBy"] == "busy-sender"
        assert await sim.sends_of(doc["_id"]) == []


class TestFailoverSeeding:
    """A new owner seeds the window from MongoDB: the previous owner's sends still count."""

    async def test_recent_sends_of_another_process_hold_back_new_ones(self, seeder, sim, sender):
        account = await seeder.account(rate=3)
        earlier = datetime.fromtimestamp(time.time() - 57.5, UTC)
        await seeder.messages(account, 3, status="Sent", attemptedAt=earlier, attempts=1,
                              attemptedMs=int(earlier.timestamp() * 1000))
        [doc] = await seeder.messages(account)
        await seeder.publish(doc)
        await until_sent(seeder, doc)
        [record] = await sim.sends_of(doc["_id"])
        assert record["at"] >= earlier.timestamp() + 60.0


@pytest.fixture
async def empty_dead_queue(broker, settings) -> None:
    """The sender's tests share a vhost: start each dead-letter test from an empty queue."""
    channel = await broker.connection.channel()
    queue = await channel.declare_queue(topology.DEAD_QUEUE, passive=True)
    await queue.purge()
    await channel.close()


@pytest.mark.usefixtures("empty_dead_queue")
class TestDeadLetters:
    """Poison commands land in relay.dead; an operator lists them and replays them."""

    async def test_poison_is_listed_with_its_queue_and_reason(self, seeder, sim, sender,
                                                             broker, settings):
        await broker.publish(topology.SEND, topology.shard_key(0), b"this is not json")
        dead = await eventually(lambda: list_dead(settings, limit=10), timeout=15)
        assert dead[0]["queue"] == topology.shard_queue(0)
        assert dead[0]["reason"] == "rejected" and dead[0]["body"] == "this is not json"
        assert len(await list_dead(settings, limit=10)) == 1  # listing removes nothing

    async def test_a_replayed_command_is_handled_again(self, seeder, sim, sender, settings, db,
                                                       broker):
        # A send command that dies is dispatched once more and then fails its message
        # (sender.dead_sends), so an operator's replay finds both copies and a Failed message:
        # the replayed commands are consumed again and send nothing (Failed is terminal; the
        # retry endpoint is how a Failed message goes out again).
        account = await seeder.account()
        [doc] = await seeder.messages(account)
        await db.messages.update_one({"_id": doc["_id"]}, {"$unset": {"to": ""}})
        await seeder.publish(doc)  # the handler fails on the broken document
        failed = await eventually(
            lambda: db.messages.find_one({"_id": doc["_id"], "status": "Failed"}), timeout=20)
        assert "dead-lettered" in failed["errorMessage"]
        shard = topology.shard_queue(topology.shard_of(account["_id"], settings.send_shards))
        dead = await eventually(
            lambda: _at_least(list_dead(settings, limit=10), 2), timeout=15)
        assert {d["queue"] for d in dead} == {shard}
        await db.messages.update_one({"_id": doc["_id"]}, {"$set": {"to": "+15551234567"}})
        result = await replay_dead(settings, limit=10)
        assert result["replayed"] == 2
        assert await eventually(lambda: _empty(list_dead(settings, limit=10)), timeout=15)
        await eventually(lambda: _zero(broker.queue_depth(shard)), timeout=15)
        stored = await db.messages.find_one({"_id": doc["_id"]})
        assert stored["status"] == "Failed" and await sim.sends_of(doc["_id"]) == []


async def _at_least(listing, count: int):
    found = await listing
    return found if len(found) >= count else None


async def _empty(listing) -> bool:
    return await listing == []


async def _zero(depth) -> bool:
    return await depth == 0
