"""The thin consume/publish adapter over aio-pika.

Publishing is JSON, persistent, ``mandatory=True`` with publisher confirms: :meth:`Broker.publish`
returns only once RabbitMQ has taken the message, and raises :class:`PublishError` when it was
refused or could not be routed. Consuming decodes JSON into a pydantic model; a body that is not
JSON or not the model is rejected to the dead-letter queue, never retried and never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import AMQPError, DeliveryError
from aio_pika.exceptions import PublishError as PikaPublishError
from pydantic import BaseModel, TypeAdapter, ValidationError
from pymongo.errors import ConnectionFailure

from shared import topology

log = structlog.get_logger("relay.broker")

M = TypeVar("M")


class PublishError(RuntimeError):
    """RabbitMQ did not take the message (down, refused or unroutable)."""


class Requeue(Exception):
    """Raised by a handler to put the message back for another try (a transient failure)."""


Handler = Callable[[Any, AbstractIncomingMessage], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """One consumer on its own channel, as :meth:`Broker.consume` started it."""

    queue: AbstractQueue
    tag: str
    channel: AbstractChannel

    async def cancel(self) -> None:
        """``basic.cancel``: no new deliveries; those in hand can still be acked."""
        with contextlib.suppress(Exception):  # bounded: a wedged channel must not hang shutdown
            await asyncio.wait_for(self.queue.cancel(self.tag), 5)

    async def close(self) -> None:
        """Close the channel: deliveries never acked go back to the queue."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.channel.close(), 5)
Body = BaseModel | dict[str, Any] | bytes


class PublisherPort(Protocol):
    """A confirmed publish, exactly as :meth:`Broker.publish` takes it (the port services use)."""

    async def publish(
        self, exchange: str, routing_key: str, body: Body, *,
        headers: dict[str, Any] | None = None, message_id: str | None = None,
        mandatory: bool = True, timeout: float = 10.0,
    ) -> None: ...


class DeferrerPort(PublisherPort, Protocol):
    """A confirmed publish and a deferral through the delay levels (:meth:`Broker.defer`)."""

    async def defer(
        self, routing_key: str, body: bytes, *, delay_ms: float, headers: dict[str, Any]
    ) -> None: ...


class Broker:
    """One robust connection, a confirming publisher channel and consumer channels."""

    def __init__(self, url: str, *, shards: int) -> None:
        self._url = url
        self.shards = shards
        self._connection: AbstractRobustConnection | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._consumers: list[Subscription] = []
        self._publisher: Any = None

    async def connect(self, *, timeout: float = 10.0) -> None:
        """Connect, declare the topology and open the publisher channel."""
        self._connection = await aio_pika.connect_robust(self._url, timeout=timeout)
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._exchanges = await topology.declare(channel, shards=self.shards)
        self._publisher = channel

    @property
    def connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise RuntimeError("Broker.connect() was not awaited")
        return self._connection

    @property
    def is_connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed and bool(
            getattr(self._connection, "connected", asyncio.Event()).is_set()
        )

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: Body,
        *,
        headers: dict[str, Any] | None = None,
        message_id: str | None = None,
        mandatory: bool = True,
        timeout: float = 10.0,
    ) -> None:
        """Publish and wait for the broker's confirm; raise :class:`PublishError` otherwise."""
        payload = _encode(body)
        message = topology.persistent(payload, headers=headers or {}, message_id=message_id)
        try:
            await self._exchanges[exchange].publish(
                message, routing_key=routing_key, mandatory=mandatory, timeout=timeout
            )
        except (DeliveryError, PikaPublishError, AMQPError, ConnectionError, TimeoutError,
                RuntimeError) as exc:
            raise PublishError(f"publish to {exchange}/{routing_key} failed: {exc!r}") from exc

    async def publish_to_queue(
        self, queue: str, body: Body, *,
        headers: dict[str, Any] | None = None, timeout: float = 10.0,
    ) -> None:
        """Publish straight to the queue named ``queue`` (the default exchange), with confirms."""
        payload = _encode(body)
        message = topology.persistent(payload, headers=headers or {})
        try:
            await self._publisher.default_exchange.publish(
                message, routing_key=queue, mandatory=True, timeout=timeout
            )
        except (DeliveryError, PikaPublishError, AMQPError, ConnectionError, TimeoutError,
                RuntimeError, AttributeError) as exc:
            raise PublishError(f"publish to queue {queue} failed: {exc!r}") from exc

    async def defer(
        self, routing_key: str, body: bytes, *, delay_ms: float, headers: dict[str, Any]
    ) -> None:
        """Publish ``body`` to come back on ``routing_key`` (a shard or the inbox) after
        ``delay_ms``, rounded up to a unit of the binary delay levels (``shared.topology``);
        a delay past the longest comes back then, and the consumer defers it again."""
        exchange, key = topology.wait_route(delay_ms, routing_key)
        await self.publish(exchange, key, body, headers=headers)

    async def consume(
        self,
        queue_name: str,
        handler: Handler,
        *,
        model: Any,
        prefetch: int,
    ) -> Subscription:
        """Consume ``queue_name`` on its own channel, dispatching validated payloads."""
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        # A passive declare (not get_queue) registers the queue with the robust channel, so the
        # consumer is restored after a reconnect (a broker restart).
        queue = await channel.declare_queue(queue_name, passive=True)
        adapter: TypeAdapter[Any] = TypeAdapter(model)

        async def on_message(message: AbstractIncomingMessage) -> None:
            await self._dispatch(message, adapter, handler, queue_name)

        tag = await queue.consume(on_message)
        subscription = Subscription(queue, tag, channel)
        self._consumers.append(subscription)
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        """Cancel one consumer (its channel stays open for the acks of what is in hand)."""
        if subscription in self._consumers:
            self._consumers.remove(subscription)
        await subscription.cancel()

    async def _dispatch(
        self,
        message: AbstractIncomingMessage,
        adapter: TypeAdapter[Any],
        handler: Handler,
        queue_name: str,
    ) -> None:
        try:
            payload = adapter.validate_json(message.body)
        except ValidationError as exc:
            log.warning("poison_message", queue=queue_name, error=str(exc)[:500])
            await message.reject(requeue=False)
            return
        try:
            await handler(payload, message)
        except (Requeue, ConnectionFailure, PublishError) as exc:
            # Transient: the database or broker is away. Try again later, without spinning.
            from shared.redelivery import retry_later  # here: shared.redelivery imports us

            await retry_later(self, message, queue_name, repr(exc)[:300])
            return
        except Exception:
            log.exception("handler_failed", queue=queue_name)
            with contextlib.suppress(AMQPError, RuntimeError):
                await message.reject(requeue=False)
            return
        if not message.processed:
            with contextlib.suppress(AMQPError, RuntimeError):
                await message.ack()

    async def cancel_consumers(self) -> None:
        """Stop taking new deliveries (graceful shutdown starts here)."""
        for subscription in self._consumers:
            await subscription.cancel()
        self._consumers.clear()

    async def queue_depth(self, queue_name: str) -> int | None:
        """Messages ready in ``queue_name`` (passive declare), or None if unknown."""
        try:
            channel = await self.connection.channel()
            try:
                queue = await channel.declare_queue(queue_name, passive=True)
                return int(queue.declaration_result.message_count or 0)
            finally:
                await channel.close()
        except Exception:
            return None

    async def close(self) -> None:
        await self.cancel_consumers()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


def _encode(body: Body) -> bytes:
    """A message body as JSON bytes (bytes pass through unchanged)."""
    if isinstance(body, BaseModel):
        return body.model_dump_json(by_alias=True, exclude_none=True).encode()
    if isinstance(body, dict):
        return json.dumps(body, default=str).encode()
    return body
