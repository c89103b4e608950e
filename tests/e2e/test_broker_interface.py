"""The broker interface end to end: a service publishes a send command with aio-pika, the
message is sent through the simulator, and the service hears message.queued and message.sent
on its own queue bound to relay.events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aio_pika
import aiohttp
import pytest

from shared import topology
from shared.db import Database
from shared.settings import Settings
from tests.conftest import eventually
from tests.harness import Stack

pytestmark = pytest.mark.e2e


class TestBrokerInterface:
    """Published three times with one idempotencyKey: one message, one send, its events."""

    async def test_command_is_sent_once_and_its_events_arrive(
        self, stack: Stack, settings: Settings, tenant: dict[str, str], db: Database,
        http: aiohttp.ClientSession,
    ) -> None:
        stack.start_all()
        events: list[dict[str, Any]] = []
        connection = await aio_pika.connect(settings.amqp_url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(exclusive=True)
            await queue.bind(topology.EVENTS, routing_key="message.#")

            async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                events.append(json.loads(message.body))

            await queue.consume(on_event, no_ack=True)
            exchange = await channel.get_exchange(topology.COMMANDS)
            command = {"userId": tenant["userId"], "idempotencyKey": "crm-order-1",
                       "whatsappAccountId": tenant["accountId"], "to": "+15551234567",
                       "type": "Text", "content": "Your order shipped"}
            for _ in range(3):
                await exchange.publish(aio_pika.Message(json.dumps(command).encode()),
                                       routing_key="message.send")

            def of_type(kind: str) -> list[dict[str, Any]]:
                return [e for e in events if e["type"] == kind
                        and e.get("idempotencyKey") == "crm-order-1"]

            await eventually(lambda: asyncio.sleep(0, result=of_type("message.sent")),
                             timeout=20, message="message.sent event")
            queued, sent = of_type("message.queued"), of_type("message.sent")
            assert len({e["messageId"] for e in queued + sent}) == 1
            message_id = sent[0]["messageId"]
            assert sent[0]["previousStatus"] == "Queued"

        assert await db.messages.count_documents({"userId": tenant["userId"]}) == 1
        stored = await db.messages.find_one({"_id": message_id})
        assert stored["status"] in ("Sent", "Delivered", "Read")
        async with http.get(f"{settings.cloud_api_url}/_sim/sends/counts") as response:
            counts = (await response.json())["counts"]
        assert counts == {message_id: 1}
