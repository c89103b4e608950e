"""The broker intake: send commands on relay.commands follow the HTTP API's rules, once per
idempotency key; refusals are parked with a reason and announced; poison is dead-lettered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aio_pika
import pytest
from aiohttp.test_utils import TestClient

from gateway import keys
from gateway.accept import usage_id
from shared import topology
from shared.db import Database
from shared.models import utcnow
from shared.settings import Settings
from tests.conftest import eventually
from tests.integration.gateway import factories
from tests.integration.gateway.conftest import Tenant, make_tenant

pytestmark = pytest.mark.integration


class Bus:
    """A plain aio-pika client, as another internal service would be."""

    def __init__(self, connection: aio_pika.abc.AbstractConnection,
                 channel: aio_pika.abc.AbstractChannel) -> None:
        self.connection = connection
        self.channel = channel
        self.events: list[dict[str, Any]] = []

    async def command(self, body: dict[str, Any] | bytes) -> None:
        exchange = await self.channel.get_exchange(topology.COMMANDS)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        await exchange.publish(aio_pika.Message(raw, content_type="application/json"),
                               routing_key="message.send")

    async def follow_events(self) -> None:
        queue = await self.channel.declare_queue(exclusive=True)
        await queue.bind(topology.EVENTS, routing_key="message.#")
        await queue.consume(self._on_event, no_ack=True)

    async def _on_event(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.events.append(json.loads(message.body))

    async def drain(self, queue_name: str) -> list[dict[str, Any]]:
        queue = await self.channel.declare_queue(queue_name, passive=True)
        found = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            found.append(json.loads(message.body))
        return found


@pytest.fixture
async def bus(settings, http: TestClient) -> AsyncIterator[Bus]:
    connection = await aio_pika.connect(settings.amqp_url)
    channel = await connection.channel()
    client = Bus(connection, channel)
    await client.follow_events()
    yield client
    await connection.close()


def command(tenant: Tenant, key: str, **fields: Any) -> dict[str, Any]:
    return {"userId": tenant.user_id, "idempotencyKey": key,
            "whatsappAccountId": tenant.account_id, "to": "+15551234567", "type": "Text",
            "content": "from the CRM", **fields}


def intake_count(http: TestClient, outcome: str) -> float:
    registry = http.server.app[keys.REGISTRY]
    return registry.get_sample_value("relay_gateway_intake_commands_total",
                                     {"outcome": outcome}) or 0.0


class TestAccepted:
    """A command creates one message however often it is published."""

    async def test_three_publishes_one_message(self, bus: Bus, http: TestClient,
                                               alice: Tenant, db: Database) -> None:
        for _ in range(3):
            await bus.command(command(alice, "invoice-7"))
        await eventually(lambda: asyncio.sleep(0, result=intake_count(http, "accepted")
                                               + intake_count(http, "duplicate") == 3),
                         message="all three commands handled")
        messages = await db.messages.find({}).to_list()
        assert len(messages) == 1
        assert messages[0]["status"] == "Queued" and messages[0]["idempotencyKey"] == "invoice-7"
        await eventually(lambda: asyncio.sleep(0, result=[
            e for e in bus.events if e["type"] == "message.queued"]))
        queued = [e for e in bus.events if e["type"] == "message.queued"]
        assert [e["messageId"] for e in queued] == [messages[0]["_id"]]

    async def test_different_keys_are_different_messages(self, bus: Bus, alice: Tenant,
                                                         db: Database) -> None:
        await bus.command(command(alice, "a"))
        await bus.command(command(alice, "b"))
        for key in ("a", "b"):
            await eventually(lambda key=key: db.messages.find_one({"idempotencyKey": key}))
        assert await db.messages.count_documents({}) == 2


class TestRejected:
    """Refusals land on relay.commands.rejected with a reason and emit message.rejected."""

    async def test_refusals_are_parked_and_announced(self, bus: Bus, alice: Tenant,
                                                     bob: Tenant, db: Database) -> None:
        await db.accounts.update_one({"_id": alice.account_id}, {"$set": {"dailyLimit": 1}})
        await db.daily_usage.insert_one({"_id": usage_id(alice.account_id, utcnow()),
                                         "count": 1})
        await bus.command(command(alice, "theirs", whatsappAccountId=bob.account_id))
        await bus.command(command(alice, "over-limit"))
        await bus.command(command(bob, "bad-phone", to="555-1234"))

        async def parked() -> list[dict[str, Any]]:
            found.extend(await bus.drain(topology.REJECTED_QUEUE))
            return found if len(found) >= 3 else []

        found: list[dict[str, Any]] = []
        await eventually(parked, message="three parked commands")
        by_key = {p["idempotencyKey"]: p for p in found}
        assert by_key["theirs"]["code"] == "NOT_FOUND"
        assert by_key["over-limit"]["code"] == "DAILY_LIMIT_REACHED"
        assert by_key["bad-phone"]["code"] == "VALIDATION_ERROR"
        assert "E.164" in by_key["bad-phone"]["reason"]
        assert by_key["bad-phone"]["to"] == "555-1234"  # the original body is kept
        await eventually(lambda: asyncio.sleep(0, result=len(
            [e for e in bus.events if e["type"] == "message.rejected"]) >= 3))
        rejected = [e for e in bus.events if e["type"] == "message.rejected"]
        assert {e["idempotencyKey"] for e in rejected} == {"theirs", "over-limit", "bad-phone"}
        assert all(e["messageId"] is None and e["reason"] for e in rejected)
        assert await db.messages.count_documents({}) == 0

    async def test_redelivered_refusal_is_parked_once(self, bus: Bus, http: TestClient,
                                                      alice: Tenant) -> None:
        for _ in range(2):
            await bus.command(command(alice, "bad-twice", to="nope"))
        await eventually(lambda: asyncio.sleep(0, result=intake_count(http, "rejected")
                                               + intake_count(http, "duplicate") == 2))
        assert intake_count(http, "rejected") == 1
        assert len(await bus.drain(topology.REJECTED_QUEUE)) == 1


class TestRefusedLikeHttp:
    """A command missing userId or idempotencyKey, of an unknown type or with an unknown field
    is refused as HTTP refuses it: parked with a reason naming the field, and announced."""

    async def test_each_is_parked_with_the_field_named(self, bus: Bus, alice: Tenant,
                                                       db: Database) -> None:
        no_user = command(alice, "no-user")
        del no_user["userId"]
        no_key = command(alice, "")
        del no_key["idempotencyKey"]
        for body in (no_user, no_key, command(alice, "odd-type", type="Sticker"),
                     command(alice, "extra", priority="high")):
            await bus.command(body)
        found: list[dict[str, Any]] = []

        async def parked() -> list[dict[str, Any]]:
            found.extend(await bus.drain(topology.REJECTED_QUEUE))
            return found if len(found) >= 4 else []

        await eventually(parked, message="four parked commands")
        reasons = {p.get("idempotencyKey", p.get("userId") and "no-key"): p for p in found}
        assert set(reasons) == {"no-user", "no-key", "odd-type", "extra"}
        assert all(p["code"] == "VALIDATION_ERROR" for p in found)
        assert "userId" in reasons["no-user"]["reason"]
        assert "idempotencyKey" in reasons["no-key"]["reason"]
        assert reasons["odd-type"]["reason"].startswith("type")
        assert reasons["extra"]["reason"] == "priority: Unknown field"
        await eventually(lambda: asyncio.sleep(0, result=len(
            [e for e in bus.events if e["type"] == "message.rejected"]) >= 4))
        rejected = [e for e in bus.events if e["type"] == "message.rejected"]
        assert {e["idempotencyKey"] for e in rejected} == {"no-user", None, "odd-type", "extra"}
        assert {e["userId"] for e in rejected} == {None, alice.user_id}
        assert await db.messages.count_documents({}) == 0


class TestNewKinds:
    """The intake takes the new kinds and the customer window exactly as HTTP does."""

    async def test_location_accepted_and_closed_window_parked(
            self, bus: Bus, alice: Tenant, db: Database, settings: Settings) -> None:
        location = {"latitude": 48.85, "longitude": 2.35, "name": "Louvre"}
        await bus.command(command(alice, "place", type="Location", content=None,
                                  location=location))
        strict = await make_tenant(db, settings, enforce_customer_window=True)
        await bus.command(command(strict, "closed"))
        stored = await eventually(lambda: db.messages.find_one({"idempotencyKey": "place"}))
        assert stored["location"] == location and stored["content"] == "Louvre"
        found: list[dict[str, Any]] = []

        async def parked() -> list[dict[str, Any]]:
            found.extend(await bus.drain(topology.REJECTED_QUEUE))
            return found

        [refused] = await eventually(parked, message="the closed-window command parked")
        assert refused["idempotencyKey"] == "closed"
        assert refused["code"] == "OUTSIDE_CUSTOMER_WINDOW"
        assert await db.messages.count_documents({"userId": strict.user_id}) == 0


class TestPoison:
    """Bytes that are not a JSON object go to relay.dead; the consumer keeps running."""

    async def test_malformed_is_dead_lettered_and_intake_lives_on(
        self, bus: Bus, alice: Tenant, db: Database
    ) -> None:
        await bus.command(b"\x00not json at all")
        await bus.command(b'["a", "list"]')  # JSON, not an object
        await bus.command(command(alice, "after-poison"))
        await eventually(lambda: db.messages.find_one({"idempotencyKey": "after-poison"}),
                         message="a valid command after poison")
        dead: list[dict[str, Any]] = []

        async def dead_lettered() -> bool:
            queue = await bus.channel.declare_queue(topology.DEAD_QUEUE, passive=True)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                dead.append({"body": message.body})
            return len(dead) >= 2

        await eventually(dead_lettered, message="two dead letters")
        assert dead[0]["body"].startswith(b"\x00not json")


class TestCrashRecovery:
    """A handling that died mid-way leaves its key unfinished; the redelivery finishes it,
    without a second message if the first one was already stored."""

    async def stale_claim(self, db: Database, body: dict[str, Any]) -> None:
        from gateway.idempotency import canonical_json, request_hash
        from shared.models import SendMessageRequest

        cmd = SendMessageRequest.model_validate(body)
        fields = cmd.model_dump(by_alias=True, mode="json", exclude_none=True,
                                exclude={"user_id", "idempotency_key"})
        await db.idempotency.insert_one({
            "_id": f"{cmd.user_id}:amqp:{cmd.idempotency_key}", "status": "in_progress",
            "requestHash": request_hash("AMQP", "message.send", canonical_json(fields)),
            "createdAt": utcnow() - timedelta(minutes=2)})

    async def test_message_stored_before_the_crash_is_not_duplicated(
        self, bus: Bus, http: TestClient, alice: Tenant, db: Database
    ) -> None:
        body = command(alice, "crashed")
        await self.stale_claim(db, body)
        await factories.message(db, user_id=alice.user_id, account_id=alice.account_id,
                                idempotencyKey="crashed", via="broker")
        await bus.command(body)
        await eventually(lambda: asyncio.sleep(0, result=intake_count(http, "duplicate") == 1))
        assert await db.messages.count_documents({}) == 1

    async def test_unfinished_key_without_a_message_is_accepted(
        self, bus: Bus, http: TestClient, alice: Tenant, db: Database
    ) -> None:
        body = command(alice, "crashed-early")
        await self.stale_claim(db, body)
        await bus.command(body)
        await eventually(lambda: db.messages.find_one({"idempotencyKey": "crashed-early"}))
        assert await db.messages.count_documents({}) == 1
