"""Relay's RabbitMQ topology, declared in one place by :func:`declare`.

- ``relay.send`` (direct) routes send commands to ``relay.send.<shard>``: quorum queues with
  single-active-consumer, so each account's pacing lives in exactly one sender at a time.
- ``relay.wait.<L>`` (topic, L = 0..WAIT_LEVELS-1) hold deferred commands in *binary delay
  levels*: the delay, in units of ``WAIT_UNIT_MS``, is written in binary into the routing key
  (``1.0.1.shard.3``, level 0 first), the message enters at the level of its highest bit (a
  short delay skips the long levels), and level ``L`` sends a message whose bit is
  1 through its quorum queue (TTL ``WAIT_UNIT_MS * 2^L``) and one whose bit is 0 straight on, to
  level ``L-1`` and finally to ``relay.wait.out``, which routes by the target at the end of the
  key (a shard, or the inbox). So every command comes back at its own time, never early, at most
  one unit late, and never in a wave with the others that shared a delay bucket; dead-lettering
  between levels is *at-least-once* (a message leaves a level only once the next confirmed it),
  so a broker restart loses nothing.
- ``relay.inbox`` is the durable webhook inbox; ``relay.events`` (topic) carries events;
  ``relay.commands`` (topic) takes commands from other services.
- Every consuming queue dead-letters poison into ``relay.dead`` through ``relay.dlx``.
"""

from __future__ import annotations

import math
import zlib

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, ExchangeType
from pamqp.common import FieldTable

COMMANDS = "relay.commands"
EVENTS = "relay.events"
SEND = "relay.send"
WAIT_OUT = "relay.wait.out"
REDELIVER = "relay.redeliver"
DLX = "relay.dlx"

INBOX_QUEUE = "relay.inbox"
INBOX_KEY = "inbox"
DEAD_QUEUE = "relay.dead"
INTAKE_QUEUE = "relay.commands.intake"
REJECTED_QUEUE = "relay.commands.rejected"
STATS_QUEUE = "relay.events.stats"

# Deferral: delays in units of WAIT_UNIT_MS, up to 2^WAIT_LEVELS - 1 units (about 14.5 h; a
# longer wait comes back at the most and is deferred again for the rest).
WAIT_UNIT_MS = 50
WAIT_LEVELS = 20


def shard_of(account_id: str, shards: int) -> int:
    """The send shard that owns ``account_id``: stable across processes and restarts."""
    return zlib.crc32(account_id.encode()) % shards


def shard_key(shard: int) -> str:
    return f"shard.{shard}"


def shard_queue(shard: int) -> str:
    return f"relay.send.{shard}"


def wait_exchange(level: int) -> str:
    return f"relay.wait.{level}"


def wait_queue(level: int) -> str:
    return f"relay.wait.{level}.q"


def wait_route(delay_ms: float, target: str) -> tuple[str, str]:
    """Exchange and routing key that bring a message back to ``target`` after ``delay_ms``
    (rounded up to a unit, so never early)."""
    units = min(max(1, math.ceil(delay_ms / WAIT_UNIT_MS)), 2 ** WAIT_LEVELS - 1)
    bits = format(units, "b")[::-1]  # level 0 first; it enters at its highest level
    return wait_exchange(len(bits) - 1), ".".join(bits) + "." + target


QUORUM: FieldTable = {"x-queue-type": "quorum"}
EXCHANGES: dict[str, ExchangeType] = {
    COMMANDS: ExchangeType.TOPIC, EVENTS: ExchangeType.TOPIC, SEND: ExchangeType.DIRECT,
    WAIT_OUT: ExchangeType.TOPIC, REDELIVER: ExchangeType.DIRECT, DLX: ExchangeType.FANOUT,
}


def _dead_lettered(*, single_active: bool = False) -> FieldTable:
    arguments: FieldTable = {**QUORUM, "x-dead-letter-exchange": DLX}
    if single_active:
        arguments["x-single-active-consumer"] = True
    return arguments


async def declare(channel: AbstractChannel, *, shards: int) -> dict[str, AbstractExchange]:
    """Declare every exchange, queue and binding (idempotent); return the exchanges by name."""
    ex = {
        name: await channel.declare_exchange(name, kind, durable=True)
        for name, kind in EXCHANGES.items()
    }
    dead = await channel.declare_queue(DEAD_QUEUE, durable=True, arguments=QUORUM)
    await dead.bind(ex[DLX])
    for shard in range(shards):
        queue = await channel.declare_queue(
            shard_queue(shard), durable=True,
            arguments=_dead_lettered(single_active=True),
        )
        await queue.bind(ex[SEND], routing_key=shard_key(shard))
        await queue.bind(ex[REDELIVER], routing_key=shard_key(shard))
        await queue.bind(ex[WAIT_OUT], routing_key=f"#.{shard_key(shard)}")
    inbox = await channel.declare_queue(INBOX_QUEUE, durable=True, arguments=_dead_lettered())
    await inbox.bind(ex[REDELIVER], routing_key=INBOX_KEY)
    await inbox.bind(ex[WAIT_OUT], routing_key=f"#.{INBOX_KEY}")
    ex.update(await _declare_wait_levels(channel, ex[WAIT_OUT]))
    intake = await channel.declare_queue(INTAKE_QUEUE, durable=True, arguments=_dead_lettered())
    await intake.bind(ex[COMMANDS], routing_key="message.send")
    await channel.declare_queue(REJECTED_QUEUE, durable=True, arguments=QUORUM)
    stats = await channel.declare_queue(
        STATS_QUEUE, durable=True, arguments=_dead_lettered(single_active=True)
    )
    await stats.bind(ex[EVENTS], routing_key="message.#")
    return ex


async def _declare_wait_levels(
    channel: AbstractChannel, out: AbstractExchange
) -> dict[str, AbstractExchange]:
    """The binary delay levels, from level 0 (next to ``out``) up."""
    levels: dict[str, AbstractExchange] = {}
    below = out
    for level in range(WAIT_LEVELS):
        name = wait_exchange(level)
        exchange = await channel.declare_exchange(name, ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(wait_queue(level), durable=True, arguments={
            **QUORUM, "x-message-ttl": WAIT_UNIT_MS * 2 ** level,
            "x-dead-letter-exchange": below.name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",  # at-least-once dead-lettering requires it
        })
        position = "*." * level  # the bits of the lower levels come first in the key
        await queue.bind(exchange, routing_key=f"{position}1.#")
        await below.bind(exchange, routing_key=f"{position}0.#")
        levels[name] = exchange
        below = exchange
    return levels


def all_queues(shards: int) -> list[str]:
    """Names of every queue :func:`declare` creates (for metrics and tests)."""
    return [
        *(shard_queue(s) for s in range(shards)),
        INBOX_QUEUE, INTAKE_QUEUE, REJECTED_QUEUE, STATS_QUEUE, DEAD_QUEUE,
        *(wait_queue(level) for level in range(WAIT_LEVELS)),
    ]


def persistent(
    body: bytes, *, headers: FieldTable | None = None, message_id: str | None = None
) -> aio_pika.Message:
    """A persistent JSON message."""
    return aio_pika.Message(
        body, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers=headers, message_id=message_id,
    )
