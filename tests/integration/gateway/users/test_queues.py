"""GET /api/v1/queues/metrics: broker depths by passive declare, job counts from the database."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from shared import topology
from shared.broker import Broker
from shared.db import Database
from shared.models import utcnow
from shared.settings import Settings
from tests.conftest import eventually
from tests.integration.gateway.gateway_client import User

pytestmark = pytest.mark.integration

METRICS = "/api/v1/queues/metrics"


async def metrics(client: TestClient, user: User) -> dict[str, Any]:
    response = await client.get(METRICS, headers=user.headers())
    assert response.status == 200, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    return data


def queued(user: User, claimed_by: str | None) -> dict[str, Any]:
    doc = {"_id": str(uuid.uuid4()), "userId": user.id, "direction": "Outbound",
           "status": "Queued", "type": "Text", "createdAt": utcnow()}
    if claimed_by:
        doc.update(claimedBy=claimed_by, claimedAt=utcnow())
    return doc


class TestQueueMetrics:
    """Each queue answers waiting, active, completed and failed from the broker and database."""

    async def test_an_idle_system_is_all_zeros(
        self, client: TestClient, alice: User, settings: Settings
    ) -> None:
        data = await metrics(client, alice)
        assert set(data["queues"]) == {"send", "inbox", "commands", "events.stats", "dead"}
        for counts in data["queues"].values():
            assert counts == {"waiting": 0, "active": 0, "completed": 0, "failed": 0}
        assert set(data["depths"]) == set(topology.all_queues(settings.send_shards))

    async def test_counts_follow_the_broker_and_the_database(
        self, client: TestClient, alice: User, db: Database, broker: Broker, settings: Settings
    ) -> None:
        last = settings.send_shards - 1
        for shard in (0, last, last):
            await broker.publish(topology.SEND, topology.shard_key(shard), b"{}")
        await broker.defer(topology.shard_key(1), b"{}", delay_ms=3_600_000, headers={})
        await broker.publish_to_queue(topology.INBOX_QUEUE, b"{}")
        await broker.publish_to_queue(topology.DEAD_QUEUE, b"{}")
        await broker.publish(topology.EVENTS, "message.sent", b"{}")
        await broker.publish(topology.COMMANDS, "message.send", b"{}")
        await db.messages.insert_many([queued(alice, "sender-1"), queued(alice, "sender-2"),
                                       queued(alice, None)])
        await db.stats_accounts.insert_one({
            "_id": str(uuid.uuid4()), "userId": alice.id,
            "outboundByStatus": {"Queued": 3, "Sent": 4, "Delivered": 2, "Read": 1, "Failed": 2},
        })

        async def settled() -> dict[str, Any] | None:
            data = await metrics(client, alice)
            return data if data["queues"]["send"]["waiting"] == 4 else None

        data = await eventually(settled, message="send depth of 4")
        queues = data["queues"]
        assert queues["send"] == {"waiting": 4, "active": 2, "completed": 7, "failed": 2}
        assert queues["inbox"]["waiting"] == 1 and queues["inbox"]["failed"] == 1
        assert queues["dead"]["waiting"] == 1
        assert queues["events.stats"]["waiting"] == 1
        assert queues["commands"]["waiting"] == 1
        assert data["depths"][topology.shard_queue(last)] == 2

    async def test_database_counts_are_the_callers_own(
        self, client: TestClient, alice: User, db: Database
    ) -> None:
        bob = await User.create(db, "bob")
        await db.messages.insert_one(queued(bob, "sender-1"))
        await db.stats_accounts.insert_one({"_id": "b", "userId": bob.id,
                                            "outboundByStatus": {"Sent": 9, "Failed": 1}})
        send = (await metrics(client, alice))["queues"]["send"]
        assert (send["active"], send["completed"], send["failed"]) == (0, 0, 0)

    async def test_needs_a_key_with_messages_read(
        self, client: TestClient, alice: User, db: Database
    ) -> None:
        assert (await client.get(METRICS)).status == 401
        writer = await alice.key_with(db, "accounts:read")
        response = await client.get(METRICS, headers=writer.headers())
        assert response.status == 403
        assert (await response.json())["code"] == "FORBIDDEN"
