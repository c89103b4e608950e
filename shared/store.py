"""The events of message state changes: an outbox that records them, and a sweep.

Every status change (``MessageStore.move``, shared/message_store.py) is a conditional update on
the message's ``version`` that also sets ``previousStatus`` and ``eventPending``. The
:class:`EventOutbox` then, in batches, writes the event to the ``events`` log (id
``<messageId>:<version>``, so a repeat is a no-op), publishes it on ``relay.events`` with
confirms, and clears ``eventPending``. A process that dies in between
leaves ``eventPending`` set, and :func:`sweep_pending_events` finishes the job: the log is complete.
The sweep filters on ``statusChangedMs`` (epoch milliseconds, written beside ``statusChangedAt``):
the embedded server stores a date set by an update operator as a string, which a date range
never matches (docs/DEVIATIONS.md); a number compares the same on both servers.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import structlog
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, PyMongoError

from shared import topology
from shared.broker import Broker, PublishError
from shared.db import Database
from shared.messages import epoch_ms
from shared.models import MessageEvent, MessageStatus, event_from_message, utcnow
from shared.tasks import stop_task

log = structlog.get_logger("relay.store")

RECORDED_KEPT = 50_000


class EventOutbox:
    """Batches event records: log insert, confirmed publish, then clears ``eventPending``.

    Clearing waits ``settle_delay`` seconds, and a later event of the same message replaces the
    wait: a message that moves on quickly (Sent, Delivered, Read within a second) is cleared
    once, not once per status. The event itself is published at once.
    """

    def __init__(
        self, db: Database, broker: Broker, *, interval: float = 0.02, batch: int = 500,
        settle_delay: float = 0.5,
    ) -> None:
        self._db = db
        self._broker = broker
        self._interval = interval
        self._batch = batch
        self._settle_delay = settle_delay
        self._pending: dict[str, tuple[MessageEvent, bool]] = {}
        # Event ids this process recorded lately (oldest first), so re-adds of them are skipped.
        self._recorded: dict[str, None] = {}
        # message id → (version to clear, mark dispatched, due time on the loop's clock)
        self._settling: dict[str, tuple[int, bool, float]] = {}
        self._hurry = False
        self._stopping = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, doc: dict[str, Any], *, dispatched: bool = False) -> None:
        """Queue the event of ``doc``'s current version (and mark the send as dispatched).

        An event this process has already recorded is not queued again (a writer re-adds the
        still-pending event of the version it read before moving on, in case the writer of that
        version died before recording it: see :meth:`add_pending`)."""
        event = event_from_message(doc)
        if not dispatched and event.event_id in self._recorded:
            return
        self._pending[event.event_id] = (event, dispatched)
        self._idle.clear()
        if len(self._pending) >= self._batch:
            self._wake.set()

    def add_pending(self, doc: dict[str, Any]) -> None:
        """Before moving ``doc`` (as read) on: queue its event if it is still pending. Its writer
        may have died before recording it, and once the message moves on, the sweep would only
        find the newer version: the event log would skip one (invariant 3). A repeat is a no-op
        in the log and a duplicate publish consumers ignore."""
        if doc.get("eventPending"):
            self.add(doc)

    def add_event(self, event: MessageEvent) -> None:
        """Queue an event that belongs to no message document (``message.rejected``)."""
        self._pending[event.event_id] = (event, False)
        self._idle.clear()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-outbox")

    async def drained(self, timeout: float = 10.0) -> None:
        """Wait until everything added so far is recorded and settled (tests, shutdown)."""
        self._hurry = True
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    async def stop(self) -> None:
        await self.drained()
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            # The loop ends on the flag: on Python 3.11 ``wait_for`` can swallow a cancel that
            # lands as its wait completes, and a cancelled loop would then run for ever.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)
            await stop_task(self._task)

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                if self._pending:
                    await self._flush_pending()
                if self._settling:
                    await self._settle_due()
            except (PyMongoError, PublishError) as exc:
                log.warning("outbox_flush_failed", error=repr(exc)[:300],
                            pending=len(self._pending), settling=len(self._settling))
                await asyncio.sleep(0.5)
                continue
            if not self._pending and not self._settling:
                self._hurry = False
                self._idle.set()

    async def _flush_pending(self) -> None:
        batch = dict(list(self._pending.items())[: self._batch])
        await self.flush(batch)
        for key in batch:
            if self._pending.get(key) is batch[key]:
                del self._pending[key]

    async def flush(self, batch: dict[str, tuple[MessageEvent, bool]]) -> None:
        """Log and publish the events of ``batch``; their settling follows after the delay."""
        events = [event for event, _ in batch.values()]
        docs = [{"_id": e.event_id, **e.model_dump(by_alias=True, mode="python")} for e in events]
        with contextlib.suppress(BulkWriteError):  # duplicates: already logged
            await self._db.events.insert_many(docs, ordered=False)
        await asyncio.gather(*(
            # Nulls included: the contract lists previousStatus & co. in every event.
            self._broker.publish(
                topology.EVENTS, e.type, e.model_dump_json(by_alias=True).encode(),
                message_id=e.event_id,
            )
            for e in events
        ))
        for event in events:
            self._recorded[event.event_id] = None
        while len(self._recorded) > RECORDED_KEPT:
            del self._recorded[next(iter(self._recorded))]
        due = asyncio.get_running_loop().time() + self._settle_delay
        for event, dispatched in batch.values():
            if event.message_id is None:
                continue
            version, marked, _ = self._settling.get(event.message_id, (0, False, 0.0))
            if event.version >= version:  # the newest version's settle clears the flag
                self._settling[event.message_id] = (event.version, dispatched or marked, due)
            elif dispatched:
                self._settling[event.message_id] = (version, True, due)

    async def _settle_due(self) -> None:
        now = asyncio.get_running_loop().time()
        due = {message_id: (version, dispatched)
               for message_id, (version, dispatched, at) in self._settling.items()
               if at <= now or self._hurry}
        if not due:
            return
        await self._settle(due)
        for message_id, (version, dispatched) in due.items():
            if self._settling.get(message_id, (0, False, 0.0))[:2] == (version, dispatched):
                del self._settling[message_id]

    async def _settle(self, due: dict[str, tuple[int, bool]]) -> None:
        """Clear ``eventPending`` (and mark ``dispatched``) in one update per message.

        The common case is one bulk write. Only when a message moved on before its event was
        recorded (the version no longer matches) and is still Queued does ``dispatched`` need a
        second update (once it is sent, nothing reads it).
        """
        ops: list[UpdateOne] = []
        dispatched_ids: list[str] = []
        for message_id, (version, dispatched) in due.items():
            update: dict[str, Any] = {"$unset": {"eventPending": ""}}
            if dispatched:
                update["$set"] = {"dispatched": True}
                dispatched_ids.append(message_id)
            ops.append(UpdateOne({"_id": message_id, "version": version}, update))
        result = await self._db.messages.bulk_write(ops, ordered=False)
        if dispatched_ids and result.matched_count < len(ops):
            await self._db.messages.update_many(
                {"_id": {"$in": dispatched_ids}, "status": MessageStatus.QUEUED.value,
                 "dispatched": {"$ne": True}},
                {"$set": {"dispatched": True}},
            )


async def sweep_pending_events(
    db: Database, outbox: EventOutbox, *, older_than: float = 10.0, limit: int = 1000
) -> int:
    """Re-queue the events of messages whose writer died before recording them.

    A status change carries ``statusChangedMs`` (a number: found on both servers); a message
    only ever inserted (its first, ``Queued``/received event pending) has an inserted
    ``statusChangedAt`` date, which both servers compare. Two queries, no top-level ``$or``.
    """
    cutoff = utcnow() - timedelta(seconds=older_than)
    queries = (
        {"eventPending": True, "statusChangedMs": {"$lt": epoch_ms(cutoff)}},
        {"eventPending": True, "statusChangedMs": {"$exists": False},
         "statusChangedAt": {"$lt": cutoff}},
    )
    found = 0
    for query in queries:
        async for doc in db.messages.find(query, limit=limit - found):
            outbox.add(doc)
            found += 1
        if found >= limit:
            break
    if found:
        log.info("swept_pending_events", count=found)
    return found
