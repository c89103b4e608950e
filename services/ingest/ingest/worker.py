"""The inbox worker: one delivery of ``relay.inbox`` is one verified webhook payload.

It parses every item, resolves the accounts in one query, and dispatches the items by type to
``ingest.handlers``. A payload that is not a webhook at all is dead-lettered. A status whose
``wamid`` is not stored yet is re-queued alone, as a small synthetic payload, through the delay
queues with doubling backoff, and parked in ``relay.dead`` with a reason after
``park_after_seconds``: never dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage

from ingest.accounts import AccountCache
from ingest.context import Context
from ingest.handlers import HANDLERS, NEEDS_ACCOUNT
from ingest.media import MediaFetcher
from ingest.metrics import IngestMetrics
from ingest.parse import InboundMessage, Item, PayloadError, StatusUpdate, parse_payload
from ingest.ports import Deferrer
from ingest.retry import Delivery, number, synthetic_payload
from shared import topology
from shared.db import Database
from shared.headers import ATTEMPT, FIRST_SEEN, QUEUE, REASON, RECEIVED_AT
from shared.message_store import MongoMessageStore
from shared.store import EventOutbox
from shared.template_store import MongoTemplateStore

log = structlog.get_logger("relay.ingest.worker")

PARK_AFTER_SECONDS = 600.0
MEDIA_RETRY_SECONDS = 300.0


class InboxWorker:
    """Applies inbox deliveries; ``handle`` is the consumer callback."""

    def __init__(
        self, *, db: Database, broker: Deferrer, outbox: EventOutbox, media: MediaFetcher,
        metrics: IngestMetrics, park_after_seconds: float = PARK_AFTER_SECONDS,
    ) -> None:
        self._db = db
        self._messages = MongoMessageStore(db)
        self._templates = MongoTemplateStore(db)
        self._broker = broker
        self._outbox = outbox
        self._media = media
        self._metrics = metrics
        self._accounts = AccountCache(db)
        self._park_after = park_after_seconds
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def handle(self, payload: Any, message: AbstractIncomingMessage) -> None:
        """Consumer callback (``shared.broker.Broker.consume`` acks after it returns)."""
        self._inflight += 1
        self._idle.clear()
        try:
            await self._handle(payload, message)
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    async def drained(self, timeout: float = 10.0) -> None:
        """Wait for deliveries in progress to finish (shutdown, after the consumer is cancelled)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    async def _handle(self, payload: Any, message: AbstractIncomingMessage) -> None:
        headers = dict(message.headers or {})
        if ATTEMPT not in headers and (received := number(headers.get(RECEIVED_AT))):
            self._metrics.inbox_lag.observe(max(0.0, time.time() - received))
        try:
            items = parse_payload(payload)
        except PayloadError as exc:
            log.warning("inbox_poison", reason=str(exc))
            self._metrics.event("payload", "poison")
            await message.reject(requeue=False)
            return
        await self.apply(items, headers)

    async def apply(self, items: list[Item], headers: Mapping[str, Any]) -> None:
        """Apply parsed items; ``headers`` of the delivery carry the retry bookkeeping."""
        delivery = Delivery.of(headers)

        async def retry_status(status: StatusUpdate) -> None:
            await self._retry_status(status, delivery)

        async def retry_message(item: InboundMessage) -> None:
            await self._retry_message(item, delivery)

        ctx = Context(db=self._db, messages=self._messages, outbox=self._outbox,
                      metrics=self._metrics,
                      media=self._media, retry_later=retry_status,
                      retry_message=retry_message,
                      media_retry_allowed=delivery.age < MEDIA_RETRY_SECONDS,
                      templates=self._templates)
        pnids = {i.phone_number_id for i in items if isinstance(i, NEEDS_ACCOUNT)}
        ctx.accounts = await self._accounts.lookup(pnids) if pnids else {}
        groups: dict[type, list[Any]] = {}
        for item in items:
            if isinstance(item, NEEDS_ACCOUNT) and item.phone_number_id not in ctx.accounts:
                self._unknown_account(item)
                continue
            groups.setdefault(type(item), []).append(item)
        for kind, handler in HANDLERS.items():
            if kind in groups:
                await handler(groups[kind], ctx)

    def _unknown_account(self, item: Item) -> None:
        log.warning("webhook_unknown_account", kind=item.kind,
                    phone_number_id=getattr(item, "phone_number_id", None))
        self._metrics.event(item.kind, "unknown_account")

    async def _retry_status(self, status: StatusUpdate, delivery: Delivery) -> None:
        body = synthetic_payload(status.phone_number_id, statuses=[status.raw])
        if delivery.age >= self._park_after:
            reason = (f"status {status.status} for unknown wamid after {delivery.attempt} "
                      f"retries over {self._park_after:.0f} s")
            await self._broker.publish(
                topology.DLX, topology.INBOX_KEY, body,
                headers={REASON: reason, QUEUE: topology.INBOX_QUEUE,
                         FIRST_SEEN: f"{delivery.first_seen:.6f}", ATTEMPT: delivery.attempt},
            )
            log.warning("status_parked", wamid=status.wamid, status=status.status, reason=reason)
            self._metrics.event("status", "parked")
            return
        await self._broker.defer(topology.INBOX_KEY, body, delay_ms=delivery.delay_ms,
                                 headers=delivery.next_headers())
        log.info("status_deferred", wamid=status.wamid, status=status.status,
                 attempt=delivery.attempt + 1)
        self._metrics.event("status", "deferred")

    async def _retry_message(self, item: InboundMessage, delivery: Delivery) -> None:
        contacts = ([{"profile": {"name": item.profile_name}, "wa_id": item.wa_id}]
                    if item.profile_name else None)
        body = synthetic_payload(item.phone_number_id, messages=[item.raw], contacts=contacts)
        await self._broker.defer(topology.INBOX_KEY, body, delay_ms=delivery.delay_ms,
                                 headers=delivery.next_headers())
        log.info("message_deferred_for_media", wamid=item.wamid, attempt=delivery.attempt + 1)
        self._metrics.event("message", "deferred")
