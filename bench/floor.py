"""The floors every figure is set beside, measured on the same database and broker.

- :func:`serve_floor` (``python -m bench.floor PORT MONGO_URL DB AMQP_URL``): a bare aiohttp
  handler that does one insert and one confirmed, persistent, mandatory publish to a quorum queue
  per request — what accepting a message costs at the least on this stack.
  ``POST /publish`` does only the confirmed publish of the raw body: the floor of a webhook
  receiver that hands each POST to a durable queue.
- :func:`consume_ack_rate`: how fast the same broker hands a quorum queue's messages to one
  consumer that acks each one — the ceiling of any sender.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime

import aio_pika
from aiohttp import web

from shared.db import connect

FLOOR_QUEUE = "bench.floor"
CONSUME_QUEUE = "bench.consume"
QUORUM = {"x-queue-type": "quorum"}


async def _floor_app(mongo_url: str, db_name: str, amqp_url: str) -> web.Application:
    client = connect(mongo_url)
    collection = client[db_name]["floor_messages"]
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    await channel.declare_queue(FLOOR_QUEUE, durable=True, arguments=QUORUM)

    async def accept(request: web.Request) -> web.Response:
        body = await request.json()
        doc = {"_id": str(uuid.uuid4()), **body, "status": "Queued",
               "createdAt": datetime.now(UTC)}
        await collection.insert_one(doc)
        message = aio_pika.Message(
            json.dumps({"messageId": doc["_id"]}).encode(), content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await channel.default_exchange.publish(message, routing_key=FLOOR_QUEUE, mandatory=True)
        return web.json_response({"success": True, "data": {"id": doc["_id"]}}, status=202)

    async def publish(request: web.Request) -> web.Response:
        raw = await request.read()
        message = aio_pika.Message(raw, content_type="application/json",
                                   delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await channel.default_exchange.publish(message, routing_key=FLOOR_QUEUE, mandatory=True)
        return web.json_response({"success": True})

    async def live(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def close(_: web.Application) -> None:
        await connection.close()
        await client.close()

    app = web.Application()
    app.router.add_post("/messages", accept)
    app.router.add_post("/publish", publish)
    app.router.add_get("/health/live", live)
    app.on_cleanup.append(close)
    return app


def serve_floor(port: int, mongo_url: str, db_name: str, amqp_url: str) -> None:
    """Serve the accept floor on 127.0.0.1:``port`` until killed."""
    app = _floor_app(mongo_url, db_name, amqp_url)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def consume_ack_rate(amqp_url: str, count: int, *, prefetch: int = 100) -> float:
    """Publish ``count`` persistent messages to a quorum queue, then time one consumer that
    acks each; return messages per second."""
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(CONSUME_QUEUE, durable=True, arguments=QUORUM)
        await queue.purge()
        body = json.dumps({"kind": "send", "messageId": "x" * 36, "whatsappAccountId": "y" * 36,
                           "userId": "z" * 36}).encode()
        for start in range(0, count, 500):
            await asyncio.gather(*(
                channel.default_exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=CONSUME_QUEUE,
                )
                for _ in range(min(500, count - start))
            ))
        return await _time_consume(connection, count, prefetch)
    finally:
        await connection.close()


async def _time_consume(
    connection: aio_pika.abc.AbstractRobustConnection, count: int, prefetch: int
) -> float:
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=prefetch)
    queue = await channel.get_queue(CONSUME_QUEUE)
    done = asyncio.Event()
    seen = 0
    started = time.perf_counter()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal seen
        await message.ack()
        seen += 1
        if seen >= count:
            done.set()

    tag = await queue.consume(on_message)
    await asyncio.wait_for(done.wait(), timeout=max(60.0, count / 200))
    elapsed = time.perf_counter() - started
    await queue.cancel(tag)
    await queue.delete(if_unused=False, if_empty=False)
    return count / elapsed


if __name__ == "__main__":
    serve_floor(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4])
