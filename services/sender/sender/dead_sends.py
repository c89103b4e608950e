"""Dead-lettered send commands: their message must not stay ``Queued`` for ever (invariant 1).

``relay.dlx`` is a fanout, so ``relay.send.dead`` receives a copy of every dead letter (the
original stays in ``relay.dead`` for operators). A copy whose first death was on a send shard
(``x-first-death-queue``) names a message: if it is still ``Queued`` it is dispatched once more
(``deadLetters`` counts that on the message); dead-lettered again, it becomes ``Failed`` with
the reason. Copies from other queues, and bodies that name no message, are dropped here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage

from sender import outcomes
from sender.context import Context
from shared import topology
from shared.models import MessageStatus, SendMessage

log = structlog.get_logger("relay.sender.dead_sends")

REDISPATCHES = 1
Consume = Callable[..., Awaitable[Any]]


def first_death(message: AbstractIncomingMessage) -> tuple[str, str]:
    """(queue, reason) of the message's first dead-lettering."""
    headers = message.headers or {}
    queue, reason = headers.get("x-first-death-queue"), headers.get("x-first-death-reason")
    if not queue:
        deaths = headers.get("x-death")
        first = deaths[-1] if isinstance(deaths, list) and deaths else {}
        if isinstance(first, dict):
            queue, reason = first.get("queue"), first.get("reason")
    return _text(queue), _text(reason) or "rejected"


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")


class DeadSends:
    """Handles ``relay.send.dead`` (see the module docstring)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def start(self, consume: Consume) -> None:
        await consume(topology.SEND_DEAD_QUEUE, self.handle, model=dict[str, Any], prefetch=16)

    async def handle(self, body: dict[str, Any], message: AbstractIncomingMessage) -> None:
        queue, reason = first_death(message)
        message_id = body.get("messageId")
        if not queue.startswith("relay.send.") or not isinstance(message_id, str):
            return
        await self.settle(message_id, queue, reason)

    async def settle(self, message_id: str, queue: str, reason: str) -> str | None:
        """Re-dispatch or fail the message of a dead-lettered command; what was done."""
        ctx = self._ctx
        found = await ctx.messages.get(message_id)
        if found is None or found.status != MessageStatus.QUEUED.value:
            return None
        seen = int((found.model_extra or {}).get("deadLetters") or 0)
        if seen < REDISPATCHES:
            await ctx.messages.annotate(message_id, {"deadLetters": seen + 1}, drop_claim=True)
            command = SendMessage(message_id=message_id,
                                  whatsapp_account_id=found.whatsapp_account_id,
                                  user_id=found.user_id)
            await ctx.broker.publish(topology.SEND, ctx.route(found.whatsapp_account_id),
                                     command, message_id=message_id)
            log.warning("dead_send_redispatched", message_id=message_id, queue=queue,
                        reason=reason)
            return "redispatched"
        why = (f"The send command was dead-lettered {seen + 1} times ({reason} on {queue}); "
               "the message was not sent")
        await outcomes.record_failed(ctx, found, why)
        log.warning("dead_send_failed", message_id=message_id, queue=queue, reason=reason)
        return "failed"
