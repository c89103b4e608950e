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
- Every consuming queue dead-letters poison into ``relay.dead`` through ``relay.dlx``; a copy
  goes to ``relay.send.dead``, where the sender settles the messages of dead send commands.
"""

from __future__ import annotations

import math
import zlib

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue, ExchangeType
from aio_pika.exceptions import ChannelPreconditionFailed
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
# A copy of every dead letter (relay.dlx is a fanout), for the sender: a dead-lettered send
# command's message is dispatched once more, then Failed (sender.dead_sends).
SEND_DEAD_QUEUE = "relay.send.dead"
INTAKE_QUEUE = "relay.commands.intake"
INTAKE_KEY = "intake"
REJECTED_QUEUE = "relay.commands.rejected"
STATS_QUEUE = "relay.events.stats"
STATS_KEY = "stats"

# Deliveries of one message before a consuming queue dead-letters it to relay.dead (RabbitMQ 4
# defaults to 20; 3.x to none). Set explicitly, so both versions behave the same: a transient
# failure never uses it up (shared.redelivery backs off through the delay queues after one
# quick requeue), only a message that kills its consumer again and again does. The queues
# that are only read by people (relay.dead, relay.commands.rejected: listing puts messages
# back) get a limit no listing reaches, so RabbitMQ 4's default never drops them.
DELIVERY_LIMIT = 50
HELD_DELIVERY_LIMIT = 1_000_000
DELIVERY_LIMIT_ARG = "x-delivery-limit"
log = structlog.get_logger("relay.topology")

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


HELD: FieldTable = {**QUORUM, DELIVERY_LIMIT_ARG: HELD_DELIVERY_LIMIT}
# The routing key that brings a message back to each consuming queue through relay.wait.out.
RETRY_KEYS = {INBOX_QUEUE: INBOX_KEY, INTAKE_QUEUE: INTAKE_KEY, STATS_QUEUE: STATS_KEY}


def retry_key(queue: str) -> str | None:
    """The target key (``wait_route``) that brings a deferred message back to ``queue``."""
    prefix, _, shard = queue.rpartition(".")
    if prefix == SEND and shard.isdigit():
        return shard_key(int(shard))
    return RETRY_KEYS.get(queue)


async def _queue(channel: AbstractChannel, name: str, arguments: FieldTable) -> AbstractQueue:
    """Declare a durable queue. A queue declared before Relay set ``x-delivery-limit`` keeps
    its arguments (RabbitMQ refuses to change them): it is used as it is, with a warning
    (set the limit by policy, or delete the drained queue, to have it)."""
    try:
        return await channel.declare_queue(name, durable=True, arguments=arguments)
    except ChannelPreconditionFailed as exc:
        if DELIVERY_LIMIT_ARG not in str(exc) or DELIVERY_LIMIT_ARG not in arguments:
            raise
        log.warning("queue_without_delivery_limit", queue=name, error=str(exc)[:300])
        await channel.reopen()
        older = {k: v for k, v in arguments.items() if k != DELIVERY_LIMIT_ARG}
        return await channel.declare_queue(name, durable=True, arguments=older)


def _dead_lettered(*, single_active: bool = False) -> FieldTable:
    arguments: FieldTable = {**QUORUM, "x-dead-letter-exchange": DLX,
                             DELIVERY_LIMIT_ARG: DELIVERY_LIMIT}
    if single_active:
        arguments["x-single-active-consumer"] = True
    return arguments


async def declare(channel: AbstractChannel, *, shards: int) -> dict[str, AbstractExchange]:
    """Declare every exchange, queue and binding (idempotent); return the exchanges by name."""
    ex = {
        name: await channel.declare_exchange(name, kind, durable=True)
        for name, kind in EXCHANGES.items()
    }
    dead = await _queue(channel, DEAD_QUEUE, HELD)
    await dead.bind(ex[DLX])
    send_dead = await _queue(channel, SEND_DEAD_QUEUE, {**QUORUM,
                                                        DELIVERY_LIMIT_ARG: DELIVERY_LIMIT})
    await send_dead.bind(ex[DLX])
    for shard in range(shards):
        queue = await _queue(channel, shard_queue(shard), _dead_lettered(single_active=True))
        await queue.bind(ex[SEND], routing_key=shard_key(shard))
        await queue.bind(ex[REDELIVER], routing_key=shard_key(shard))
        await queue.bind(ex[WAIT_OUT], routing_key=f"#.{shard_key(shard)}")
    inbox = await _queue(channel, INBOX_QUEUE, _dead_lettered())
    await inbox.bind(ex[REDELIVER], routing_key=INBOX_KEY)
    await inbox.bind(ex[WAIT_OUT], routing_key=f"#.{INBOX_KEY}")
    ex.update(await _declare_wait_levels(channel, ex[WAIT_OUT]))
    intake = await _queue(channel, INTAKE_QUEUE, _dead_lettered())
    await intake.bind(ex[COMMANDS], routing_key="message.send")
    await intake.bind(ex[WAIT_OUT], routing_key=f"#.{INTAKE_KEY}")
    await _queue(channel, REJECTED_QUEUE, HELD)
    stats = await _queue(channel, STATS_QUEUE, _dead_lettered(single_active=True))
    await stats.bind(ex[EVENTS], routing_key="message.#")
    await stats.bind(ex[WAIT_OUT], routing_key=f"#.{STATS_KEY}")
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
        INBOX_QUEUE, INTAKE_QUEUE, REJECTED_QUEUE, STATS_QUEUE, DEAD_QUEUE, SEND_DEAD_QUEUE,
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
