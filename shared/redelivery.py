"""What a consumer does with a message whose handler failed transiently (the database or the
broker away, or the handler asked for another try with ``Requeue``), without spinning.

A quorum queue counts every redelivery against ``x-delivery-limit`` and dead-letters the
message past it (RabbitMQ 4 does so by default after 20), so requeueing in a loop would both
burn CPU and, during a database outage of a few seconds, dead-letter good commands. So:

- the first failure of a fresh delivery is requeued at once (after a short pause): a blip
  costs nothing and keeps the queue's order;
- a *redelivered* message that fails again is deferred through the delay levels
  (``shared.topology.wait_route``) to come back to its own queue after a back-off (1 s,
  doubling, at most 10 s; the count travels in the ``x-relay-transient`` header), and the
  delivery is acked. Each round uses two deliveries at most, so the delivery limit is spent
  only by messages that crash their consumer, never by waiting for a dependency;
- if the deferral cannot be published (the broker itself is away), or the queue has no way
  back through the delay levels, it falls back to the requeue.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import AMQPError

from shared import headers as h
from shared import topology
from shared.broker import PublisherPort, PublishError

log = structlog.get_logger("relay.redelivery")

REQUEUE_PAUSE_SECONDS = 0.2
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 10.0


def backoff_seconds(failures: int) -> float:
    """The wait before the next try after ``failures`` transient failures (1 s, doubling)."""
    return float(min(FIRST_BACKOFF_SECONDS * 2 ** max(failures - 1, 0), MAX_BACKOFF_SECONDS))


def failures_so_far(message_headers: dict[str, Any] | None) -> int:
    """The transient failures a message has been through before this delivery."""
    value = (message_headers or {}).get(h.TRANSIENT, 0)
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


async def retry_later(
    publisher: PublisherPort, message: AbstractIncomingMessage, queue: str, reason: str
) -> None:
    """Settle ``message`` after a transient failure: requeue it once, then back off."""
    target = topology.retry_key(queue)
    if message.redelivered and target is not None:
        failures = failures_so_far(message.headers) + 1
        delay = backoff_seconds(failures)
        exchange, key = topology.wait_route(delay * 1000, target)
        try:
            await publisher.publish(
                exchange, key, message.body, message_id=message.message_id,
                headers={**(message.headers or {}), h.TRANSIENT: failures},
            )
        except PublishError as exc:
            log.warning("retry_defer_failed", queue=queue, error=repr(exc)[:300])
        else:
            log.warning("retry_later", queue=queue, reason=reason, failures=failures,
                        delay_seconds=delay)
            with contextlib.suppress(AMQPError, RuntimeError):
                await message.ack()
            return
    log.warning("requeue", queue=queue, reason=reason)
    await asyncio.sleep(REQUEUE_PAUSE_SECONDS)
    with contextlib.suppress(AMQPError, RuntimeError):
        await message.nack(requeue=True)
