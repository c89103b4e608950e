"""The broker adapter and topology against the real RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import time

import aio_pika

from shared import topology
from shared.broker import Broker
from shared.models import SendMessage
from tests.conftest import eventually


class TestTopology:
    """Declaring twice is harmless; delayed commands come back to their own shard."""

    async def test_declare_is_idempotent(self, broker: Broker, settings) -> None:
        again = Broker(settings.amqp_url, shards=settings.send_shards)
        await again.connect()
        await again.close()
        assert await broker.queue_depth(topology.shard_queue(0)) == 0

    async def test_deferred_command_returns_to_its_shard_after_the_delay(
        self, broker: Broker
    ) -> None:
        received: list[tuple[float, SendMessage]] = []

        async def handle(command: SendMessage, _message: object) -> None:
            received.append((time.monotonic(), command))

        await broker.consume(topology.shard_queue(3), handle, model=SendMessage, prefetch=10)
        command = SendMessage(message_id="m1", whatsapp_account_id="a1", user_id="u1")
        started = time.monotonic()
        await broker.defer(topology.shard_key(3), command.to_json(), delay_ms=250, headers={})
        sentinel = SendMessage(message_id="m2", whatsapp_account_id="a1", user_id="u1")
        await broker.defer(topology.shard_key(3), sentinel.to_json(), delay_ms=1000, headers={})
        await eventually(lambda: asyncio.sleep(0, result=len(received) >= 2), timeout=5)
        assert [c.message_id for _, c in received] == ["m1", "m2"]  # each exactly once
        assert received[0][0] - started >= 0.24


class TestWaitLevels:
    """Deferred commands come back at their own time through the binary delay levels: never
    early, within a unit or two late, each once, in the order of their times, whatever order
    they were published in."""

    async def test_each_comes_back_at_its_own_time(self, broker: Broker) -> None:
        arrived: dict[str, float] = {}

        async def handle(command: SendMessage, _message: object) -> None:
            assert command.message_id not in arrived  # each exactly once
            arrived[command.message_id] = time.monotonic()

        await broker.consume(topology.shard_queue(1), handle, model=SendMessage, prefetch=50)
        delays_ms = [1750, 50, 1200, 400, 975, 3000, 125, 2050]  # bits of every level up to 2^6
        started = time.monotonic()
        for delay in delays_ms:
            command = SendMessage(message_id=str(delay), whatsapp_account_id="a", user_id="u")
            await broker.defer(topology.shard_key(1), command.to_json(), delay_ms=delay,
                               headers={})
        await eventually(lambda: asyncio.sleep(0, result=len(arrived) == len(delays_ms)),
                         timeout=10)
        for delay in delays_ms:
            late = arrived[str(delay)] - started - delay / 1000
            assert -0.005 <= late < 0.4, f"{delay} ms came back {late * 1000:.0f} ms late"
        assert sorted(arrived, key=arrived.get) == [str(d) for d in sorted(delays_ms)]

    def test_route_writes_the_units_in_binary_highest_level_first(self) -> None:
        exchange, key = topology.wait_route(280, "shard.2")  # 280 ms → 6 units = 0b110
        assert (exchange, key) == (topology.wait_exchange(2), "0.1.1.shard.2")
        exchange, longest = topology.wait_route(10 ** 12, "inbox")  # capped at the most
        assert exchange == topology.wait_exchange(topology.WAIT_LEVELS - 1)
        assert longest == "1." * topology.WAIT_LEVELS + "inbox"


class TestConsume:
    """Payloads that are not the model go to the dead-letter queue; the consumer lives on."""

    async def test_poison_is_dead_lettered_and_valid_messages_still_flow(
        self, broker: Broker, settings
    ) -> None:
        handled: list[str] = []

        async def handle(command: SendMessage, _message: object) -> None:
            handled.append(command.message_id)

        await broker.consume(topology.shard_queue(0), handle, model=SendMessage, prefetch=10)
        await broker.publish(topology.SEND, topology.shard_key(0), b"not json")
        await broker.publish(topology.SEND, topology.shard_key(0), {"kind": "send"})
        good = SendMessage(message_id="ok", whatsapp_account_id="a", user_id="u")
        await broker.publish(topology.SEND, topology.shard_key(0), good)
        await eventually(lambda: asyncio.sleep(0, result=handled == ["ok"]), timeout=5)

        connection = await aio_pika.connect(settings.amqp_url)
        channel = await connection.channel()
        dead = await channel.declare_queue(topology.DEAD_QUEUE, passive=True)
        bodies: list[bytes] = []

        async def depth() -> bool:
            async with dead.iterator(no_ack=False, timeout=1) as it:
                async for message in it:
                    bodies.append(message.body)
                    await message.ack()
                    if len(bodies) == 2:
                        break
            return len(bodies) == 2

        await eventually(depth, timeout=10)
        await connection.close()
        assert b"not json" in bodies
        assert json.loads(next(b for b in bodies if b != b"not json")) == {"kind": "send"}
