"""``relay dead-letters list|replay``: inspect the dead-letter queue, or send its messages back.

``relay.dead`` is a quorum queue, so it is read by consuming (with a prefetch of ``limit``), not
``basic.get``. Listing puts every message back (nack with requeue) once all are collected, so
nothing is seen twice; replaying republishes each body, with its own headers but without the
broker's death history, to the queue it died in (``x-death[0].queue``), with confirms, and only
then acknowledges it. A dry run (``replay --dry-run``) reports what a replay would do and puts
every message back, as listing does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from shared import topology
from shared.headers import DEATH, DEATH_HEADERS, FIRST_DEATH_QUEUE, FIRST_DEATH_REASON
from shared.settings import Settings

IDLE_SECONDS = 1.0


async def list_dead(settings: Settings, *, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` dead letters: body, and why and where each died. Nothing is removed."""
    async with _channel(settings) as channel:
        messages = await _collect(channel, limit)
        shown = [describe(m) for m in messages]
        for message in messages:
            await message.nack(requeue=True)
    return shown


async def replay_dead(
    settings: Settings, *, limit: int, dry_run: bool = False
) -> dict[str, Any]:
    """Republish up to ``limit`` dead letters to the queues they died in; ack each after.

    With ``dry_run``, nothing is published or removed: the answer says what would be replayed
    (``wouldReplay``, ``byQueue``, ``skipped`` and each message as :func:`describe` shows it).
    """
    if dry_run:
        return await _plan_replay(settings, limit=limit)
    replayed: dict[str, int] = {}
    skipped = 0
    async with _channel(settings) as channel:
        for message in await _collect(channel, limit):
            queue = origin_queue(message)
            if queue is None:
                skipped += 1
                await message.nack(requeue=True)
                continue
            await channel.default_exchange.publish(
                topology.persistent(message.body, headers=_own_headers(message),
                                    message_id=message.message_id),
                routing_key=queue, mandatory=True,
            )
            await message.ack()
            replayed[queue] = replayed.get(queue, 0) + 1
    return {"replayed": sum(replayed.values()), "byQueue": replayed, "skipped": skipped}


async def _plan_replay(settings: Settings, *, limit: int) -> dict[str, Any]:
    """What :func:`replay_dead` would do with up to ``limit`` dead letters; every one put back."""
    async with _channel(settings) as channel:
        messages = await _collect(channel, limit)
        shown = [describe(m) for m in messages]
        for message in messages:
            await message.nack(requeue=True)
    by_queue: dict[str, int] = {}
    for item in shown:
        if item["queue"] is not None:
            by_queue[item["queue"]] = by_queue.get(item["queue"], 0) + 1
    return {"dryRun": True, "wouldReplay": sum(by_queue.values()), "byQueue": by_queue,
            "skipped": len(shown) - sum(by_queue.values()), "messages": shown}


def describe(message: AbstractIncomingMessage) -> dict[str, Any]:
    """A dead letter for people: its body (JSON when it is JSON) and its death record."""
    deaths = _deaths(message)
    first = deaths[0] if deaths else {}
    try:
        body: Any = json.loads(message.body)
    except ValueError:
        body = message.body.decode(errors="replace")
    return {
        "queue": origin_queue(message), "reason": _text(first.get("reason"))
        or _text((message.headers or {}).get(FIRST_DEATH_REASON)),
        "count": first.get("count"), "time": first.get("time"),
        "routingKeys": [_text(k) for k in first.get("routing-keys", [])],
        "messageId": message.message_id, "body": body,
    }


def origin_queue(message: AbstractIncomingMessage) -> str | None:
    """The queue the message died in."""
    deaths = _deaths(message)
    if deaths and deaths[0].get("queue"):
        return _text(deaths[0]["queue"])
    queue = (message.headers or {}).get(FIRST_DEATH_QUEUE)
    return _text(queue) if queue else None


def _deaths(message: AbstractIncomingMessage) -> list[dict[str, Any]]:
    deaths = (message.headers or {}).get(DEATH)
    return [d for d in deaths if isinstance(d, dict)] if isinstance(deaths, list) else []


def _own_headers(message: AbstractIncomingMessage) -> dict[str, Any]:
    return {k: v for k, v in (message.headers or {}).items() if k not in DEATH_HEADERS}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


async def _collect(channel: AbstractChannel, limit: int) -> list[AbstractIncomingMessage]:
    """Consume until ``limit`` messages are held or the queue stays quiet for a second."""
    await channel.set_qos(prefetch_count=max(1, min(limit, 10_000)))
    queue = await channel.declare_queue(topology.DEAD_QUEUE, passive=True)
    held: list[AbstractIncomingMessage] = []
    more = asyncio.Event()

    async def on_message(message: AbstractIncomingMessage) -> None:
        if len(held) < limit:
            held.append(message)
        else:
            await message.nack(requeue=True)
        more.set()

    tag = await queue.consume(on_message)
    try:
        while len(held) < limit:
            more.clear()
            try:
                await asyncio.wait_for(more.wait(), IDLE_SECONDS)
            except TimeoutError:
                break
    finally:
        await queue.cancel(tag)
    return held


@contextlib.asynccontextmanager
async def _channel(settings: Settings) -> Any:
    connection = await aio_pika.connect(settings.amqp_url, timeout=10)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await topology.declare(channel, shards=settings.send_shards)
        yield channel
    finally:
        await connection.close()
