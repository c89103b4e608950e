"""Relay's RabbitMQ topology, declared in one place by :func:`declare`.

- ``relay.send`` (direct) routes send commands to ``relay.send.<shard>``: quorum queues with
  single-active-consumer, so each account's pacing lives in exactly one sender at a time.
- ``relay.delay`` (headers) holds deferred commands in fixed-TTL quorum queues that dead-letter
  into ``relay.redeliver`` (direct) with the original routing key: back to the shard or the
  inbox. Dead-lettering is *at-least-once*: a message leaves its delay queue only once the
  target queue confirmed it, so a broker restart (a shard queue not yet elected when the
  expired messages are moved) loses nothing. At-most-once, the default, dropped scheduled sends
  in the fault suite.
- ``relay.inbox`` is the durable webhook inbox; ``relay.events`` (topic) carries events;
  ``relay.commands`` (topic) takes commands from other services.
- Every consuming queue dead-letters poison into ``relay.dead`` through ``relay.dlx``.
"""

from __future__ import annotations

import zlib

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, ExchangeType

COMMANDS = "relay.commands"
EVENTS = "relay.events"
SEND = "relay.send"
DELAY = "relay.delay"
REDELIVER = "relay.redeliver"
DLX = "relay.dlx"

INBOX_QUEUE = "relay.inbox"
INBOX_KEY = "inbox"
DEAD_QUEUE = "relay.dead"
INTAKE_QUEUE = "relay.commands.intake"
REJECTED_QUEUE = "relay.commands.rejected"
STATS_QUEUE = "relay.events.stats"

# Fixed delays (ms). A deferral takes the longest bucket that fits and is re-deferred on return.
DELAY_BUCKETS_MS = (50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000,
                    300_000, 900_000, 3_600_000)
DELAY_HEADER = "relay-delay-ms"  # headers exchanges ignore x- headers
# Epoch milliseconds before which a deferred command is not handled (re-deferred if early).
NOT_BEFORE = "x-relay-not-before"


def shard_of(account_id: str, shards: int) -> int:
    """The send shard that owns ``account_id``: stable across processes and restarts."""
    return zlib.crc32(account_id.encode()) % shards


def shard_key(shard: int) -> str:
    return f"shard.{shard}"


def shard_queue(shard: int) -> str:
    return f"relay.send.{shard}"


def delay_queue(bucket_ms: int) -> str:
    return f"relay.delay.{bucket_ms}"


def delay_bucket(delay_ms: float) -> int:
    """The longest delay bucket not longer than ``delay_ms`` (the shortest if none)."""
    fitting = [b for b in DELAY_BUCKETS_MS if b <= delay_ms]
    return fitting[-1] if fitting else DELAY_BUCKETS_MS[0]


def _dead_lettered(**extra: object) -> dict[str, object]:
    return {"x-queue-type": "quorum", "x-dead-letter-exchange": DLX, **extra}


async def declare(channel: AbstractChannel, *, shards: int) -> dict[str, AbstractExchange]:
    """Declare every exchange, queue and binding (idempotent); return the exchanges by name."""
    durable = {"durable": True}
    ex = {
        COMMANDS: await channel.declare_exchange(COMMANDS, ExchangeType.TOPIC, **durable),
        EVENTS: await channel.declare_exchange(EVENTS, ExchangeType.TOPIC, **durable),
        SEND: await channel.declare_exchange(SEND, ExchangeType.DIRECT, **durable),
        DELAY: await channel.declare_exchange(DELAY, ExchangeType.HEADERS, **durable),
        REDELIVER: await channel.declare_exchange(REDELIVER, ExchangeType.DIRECT, **durable),
        DLX: await channel.declare_exchange(DLX, ExchangeType.FANOUT, **durable),
    }
    quorum = {"x-queue-type": "quorum"}
    dead = await channel.declare_queue(DEAD_QUEUE, durable=True, arguments=quorum)
    await dead.bind(ex[DLX])
    for shard in range(shards):
        queue = await channel.declare_queue(
            shard_queue(shard), durable=True,
            arguments=_dead_lettered(**{"x-single-active-consumer": True}),
        )
        await queue.bind(ex[SEND], routing_key=shard_key(shard))
        await queue.bind(ex[REDELIVER], routing_key=shard_key(shard))
    inbox = await channel.declare_queue(INBOX_QUEUE, durable=True, arguments=_dead_lettered())
    await inbox.bind(ex[REDELIVER], routing_key=INBOX_KEY)
    for bucket in DELAY_BUCKETS_MS:
        queue = await channel.declare_queue(
            delay_queue(bucket), durable=True,
            arguments={"x-queue-type": "quorum", "x-message-ttl": bucket,
                       "x-dead-letter-exchange": REDELIVER,
                       "x-dead-letter-strategy": "at-least-once",
                       "x-overflow": "reject-publish"},  # at-least-once requires it
        )
        await queue.bind(ex[DELAY], arguments={"x-match": "all", DELAY_HEADER: bucket})
    intake = await channel.declare_queue(INTAKE_QUEUE, durable=True, arguments=_dead_lettered())
    await intake.bind(ex[COMMANDS], routing_key="message.send")
    await channel.declare_queue(REJECTED_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
    stats = await channel.declare_queue(
        STATS_QUEUE, durable=True, arguments=_dead_lettered(**{"x-single-active-consumer": True})
    )
    await stats.bind(ex[EVENTS], routing_key="message.#")
    return ex


def all_queues(shards: int) -> list[str]:
    """Names of every queue :func:`declare` creates (for metrics and tests)."""
    return [
        *(shard_queue(s) for s in range(shards)),
        INBOX_QUEUE, INTAKE_QUEUE, REJECTED_QUEUE, STATS_QUEUE, DEAD_QUEUE,
        *(delay_queue(b) for b in DELAY_BUCKETS_MS),
    ]


def persistent(body: bytes, **kwargs: object) -> aio_pika.Message:
    """A persistent JSON message."""
    return aio_pika.Message(
        body, content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT, **kwargs,  # type: ignore[arg-type]
    )
