"""GET /api/v1/queues/metrics on the real broker and the embedded database: each queue's
waiting count is its own broker depth, and the job counts are the caller's messages."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from shared import topology
from shared.broker import Broker
from shared.db import Database, created_ms
from shared.models import utcnow
from shared.settings import Settings
from tests.conftest import eventually
from tests.integration.gateway.gateway_client import User

pytestmark = pytest.mark.integration

METRICS = "/api/v1/queues/metrics"
HOUR_MS = 3_600_000
UNKNOWN = {"active": None, "completed": None, "failed": None}


async def metrics(client: TestClient, user: User) -> dict[str, Any]:
    response = await client.get(METRICS, headers=user.headers())
    assert response.status == 200, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    return data


def message(user: User, *, status: str = "Queued", claim_until: int = 0) -> dict[str, Any]:
    """A stored outbound message; ``claim_until`` in the future is a sender's live claim."""
    doc = {"_id": str(uuid.uuid4()), "userId": user.id, "direction": "Outbound",
           "status": status, "type": "Text", "createdAt": utcnow(), "claimUntil": claim_until}
    if claim_until:
        doc.update(claimedBy="sender-1", claimedAt=utcnow(), claimToken=uuid.uuid4().hex)
    return doc


def projection(user: User, **fields: Any) -> dict[str, Any]:
    """A stats projection account document of ``user`` (docs/STATS.md)."""
    return {"_id": str(uuid.uuid4()), "userId": user.id, "outboundByStatus": {},
            "byDirection": {}, "inflight": [], **fields}


async def settled(client: TestClient, user: User, expected: dict[str, Any]) -> dict[str, Any]:
    """The metrics once their queues and ``delayed`` are ``expected`` (quorum queue counts
    trail a publish confirm by a moment): polled until a deadline, then the last answer."""

    async def check() -> dict[str, Any] | None:
        data = await metrics(client, user)
        seen = {"queues": data["queues"], "delayed": data["delayed"]}
        return data if seen == expected else None

    try:
        found: dict[str, Any] = await eventually(check, message="the expected metrics")
    except AssertionError:
        data = await metrics(client, user)
        assert {"queues": data["queues"], "delayed": data["delayed"]} == expected
        raise
    return found


class TestQueueMetrics:
    """Each queue answers waiting from its broker depth, and active, completed and failed from
    the caller's messages, or null where the number cannot be known."""

    async def test_an_idle_system(
        self, client: TestClient, alice: User, settings: Settings
    ) -> None:
        data = await metrics(client, alice)
        assert data["queues"] == {
            "send": {"waiting": 0, "active": 0, "completed": 0, "failed": 0},
            "inbox": {"waiting": 0, "active": None, "completed": 0, "failed": None},
            "commands": {"waiting": 0, "active": None, "completed": None, "failed": 0},
            "events.stats": {"waiting": 0, "active": 0, "completed": None, "failed": None},
            "dead": {"waiting": 0, **UNKNOWN},
        }
        assert data["delayed"] == 0
        assert set(data["depths"]) == set(topology.all_queues(settings.send_shards))

    async def test_every_queue_counts_its_own_messages(
        self, client: TestClient, alice: User, db: Database, broker: Broker, settings: Settings
    ) -> None:
        last = settings.send_shards - 1
        for shard in (0, last, last):
            await broker.publish(topology.SEND, topology.shard_key(shard), b"{}")
        await broker.defer(topology.shard_key(1), b"{}", delay_ms=HOUR_MS, headers={})
        await broker.defer(topology.INBOX_KEY, b"{}", delay_ms=HOUR_MS, headers={})
        await broker.publish_to_queue(topology.INBOX_QUEUE, b"{}")
        for _ in range(2):
            await broker.publish_to_queue(topology.DEAD_QUEUE, b"{}")
            await broker.publish_to_queue(topology.REJECTED_QUEUE, b"{}")
        await broker.publish(topology.EVENTS, "message.sent", b"{}")
        await broker.publish(topology.COMMANDS, "message.send", b"{}")
        now = created_ms(utcnow())
        await db.messages.insert_many([
            message(alice, claim_until=now + HOUR_MS), message(alice, claim_until=now + HOUR_MS),
            message(alice, claim_until=now - 1_000),  # its sender died: the lease ran out
            message(alice),  # not claimed
            message(alice, status="Sent", claim_until=now + HOUR_MS),  # done, claim not dropped
        ])
        await db.stats_accounts.insert_many([
            projection(alice, outboundByStatus={"Queued": 4, "Sent": 4, "Delivered": 2,
                                                "Read": 1, "Failed": 2, "Cancelled": 5},
                       byDirection={"Inbound": 3, "Outbound": 18}, inflight=["m1:2", "m2:1"]),
            projection(alice, outboundByStatus={"Sent": 1, "Failed": 1},
                       byDirection={"Inbound": 2, "Outbound": 2}),
        ])

        data = await settled(client, alice, {"queues": {
            "send": {"waiting": 3, "active": 2, "completed": 8, "failed": 3},
            "inbox": {"waiting": 1, "active": None, "completed": 5, "failed": None},
            "commands": {"waiting": 1, "active": None, "completed": None, "failed": 2},
            "events.stats": {"waiting": 1, "active": 2, "completed": None, "failed": None},
            "dead": {"waiting": 2, **UNKNOWN},
        }, "delayed": 2})
        assert data["depths"][topology.shard_queue(last)] == 2
        assert data["depths"][topology.INBOX_QUEUE] == 1

    async def test_counts_of_messages_are_the_callers_own(
        self, client: TestClient, alice: User, bob: User, db: Database
    ) -> None:
        await db.messages.insert_one(message(bob, claim_until=created_ms(utcnow()) + HOUR_MS))
        await db.stats_accounts.insert_one(projection(
            bob, outboundByStatus={"Sent": 9, "Failed": 1}, byDirection={"Inbound": 4},
            inflight=["m:1"]))
        queues = (await metrics(client, alice))["queues"]
        assert queues["send"] == {"waiting": 0, "active": 0, "completed": 0, "failed": 0}
        assert (queues["inbox"]["completed"], queues["events.stats"]["active"]) == (0, 0)
        queues = (await metrics(client, bob))["queues"]
        assert queues["send"] == {"waiting": 0, "active": 1, "completed": 9, "failed": 1}
        assert (queues["inbox"]["completed"], queues["events.stats"]["active"]) == (4, 1)

    async def test_needs_a_key_with_messages_read(
        self, client: TestClient, alice: User, db: Database
    ) -> None:
        assert (await client.get(METRICS)).status == 401
        writer = await alice.key_with(db, "accounts:read")
        response = await client.get(METRICS, headers=writer.headers())
        assert response.status == 403
        assert (await response.json())["code"] == "FORBIDDEN"
