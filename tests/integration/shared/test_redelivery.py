"""On the real broker: a transient failure backs off through the delay queues instead of
requeueing in a loop (which would burn CPU and use up the quorum queues' delivery limit), and
every consuming quorum queue has an explicit ``x-delivery-limit`` that an older queue without
it does not turn into a start-up failure."""

from __future__ import annotations

import time
from itertools import pairwise
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import ChannelPreconditionFailed
from pymongo.errors import ConnectionFailure

from shared import headers as h
from shared import topology
from shared.broker import Broker
from shared.redelivery import backoff_seconds
from tests.conftest import eventually

pytestmark = pytest.mark.integration

FAILURES = 4


class TestTransientFailuresBackOff:
    async def test_a_redelivered_failure_waits_in_the_delay_queues(self, broker: Broker) -> None:
        seen: list[tuple[float, bool | None, Any]] = []

        async def handler(_: dict[str, Any], message: AbstractIncomingMessage) -> None:
            seen.append((time.monotonic(), message.redelivered,
                         (message.headers or {}).get(h.TRANSIENT)))
            if len(seen) <= FAILURES:
                raise ConnectionFailure("the database is away")

        await broker.consume(topology.INTAKE_QUEUE, handler, model=dict[str, Any], prefetch=1)
        await broker.publish_to_queue(topology.INTAKE_QUEUE, {"n": 1})
        await eventually(lambda: _ready(len(seen) > FAILURES), timeout=15,
                         message="handled after four transient failures")

        # Fresh, requeued once at once, deferred 1 s; fresh again, requeued, deferred 2 s.
        assert [(redelivered, transient) for _, redelivered, transient in seen] == [
            (False, None), (True, None), (False, 1), (True, 1), (False, 2)]
        gaps = [later[0] - earlier[0] for earlier, later in pairwise(seen)]
        assert gaps[1] >= backoff_seconds(1) * 0.95
        assert gaps[3] >= backoff_seconds(2) * 0.95
        assert await broker.queue_depth(topology.INTAKE_QUEUE) == 0
        assert await broker.queue_depth(topology.DEAD_QUEUE) == 0

    def test_the_backoff_doubles_up_to_ten_seconds(self) -> None:
        assert [backoff_seconds(n) for n in (1, 2, 3, 4, 5, 30)] == [1, 2, 4, 8, 10, 10]


async def _ready(value: bool) -> bool:
    return value


class TestDeliveryLimit:
    @pytest.mark.parametrize(("queue", "single_active"), [
        (topology.shard_queue(0), True), (topology.INBOX_QUEUE, False),
        (topology.INTAKE_QUEUE, False), (topology.STATS_QUEUE, True)])
    async def test_consuming_queues_have_the_limit(
        self, broker: Broker, queue: str, single_active: bool
    ) -> None:
        # RabbitMQ refuses a redeclare whose arguments differ: the same without the limit is
        # refused, and for the limit's sake.
        arguments: dict[str, Any] = {"x-queue-type": "quorum",
                                     "x-dead-letter-exchange": topology.DLX}
        if single_active:
            arguments["x-single-active-consumer"] = True
        channel = await broker.connection.channel()
        with pytest.raises(ChannelPreconditionFailed, match=topology.DELIVERY_LIMIT_ARG):
            await channel.declare_queue(queue, durable=True, arguments=arguments)

    async def test_an_older_queue_without_the_limit_still_works(self, amqp_url: str) -> None:
        connection = await aio_pika.connect(amqp_url)
        channel = await connection.channel()
        await channel.declare_queue(topology.INBOX_QUEUE, durable=True, arguments={
            "x-queue-type": "quorum", "x-dead-letter-exchange": topology.DLX})
        await connection.close()
        broker = Broker(amqp_url, shards=2)
        await broker.connect()
        try:
            await broker.publish(topology.WAIT_OUT, f"1.{topology.INBOX_KEY}", {"ok": True})
            await eventually(lambda: _depth_is(broker, topology.INBOX_QUEUE, 1),
                             message="routed to the older inbox")
            await broker.publish_to_queue(topology.shard_queue(1), {"ok": True})
        finally:
            await broker.close()


async def _depth_is(broker: Broker, queue: str, depth: int) -> bool:
    return await broker.queue_depth(queue) == depth
