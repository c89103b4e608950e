"""Nothing lost: the periodic sweep every sender runs (idempotent, safe with several at once).

- messages stored ``Queued`` whose send command was never confirmed (``dispatched`` not set, the
  gateway died in between) get their command published and are marked dispatched;
- messages whose claim is older than the claim timeout (their sender died mid-send) get a new
  command, then the stale claim is dropped — in that order, so a crash repeats, never loses;
- events whose writer died before recording them are recorded (``sweep_pending_events``);
- the dead-letter queue's depth is exported;
- a dead-lettered send command's message is dispatched once more, then ``Failed``
  (``sender.dead_sends``, consuming ``relay.send.dead`` when given ``consume``).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import structlog
from pymongo.errors import PyMongoError

from sender.context import Context
from sender.dead_sends import Consume, DeadSends
from shared import topology
from shared.broker import PublishError
from shared.models import MessageStatus, SendMessage
from shared.store import sweep_pending_events
from shared.tasks import stop_task

log = structlog.get_logger("relay.sender.sweeper")

UNDISPATCHED_AFTER_SECONDS = 5.0
BATCH = 500


class Sweeper:
    """Runs :meth:`sweep` every ``outbox_sweep_seconds`` until cancelled."""

    def __init__(self, ctx: Context, *, depth: Any = None, consume: Consume | None = None
                 ) -> None:
        self._ctx = ctx
        self._depth = depth  # async (queue name) -> int | None, for the dead-letter gauge
        self._consume = consume  # Broker.consume, for relay.send.dead
        self.dead_sends = DeadSends(ctx)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sender-sweeper")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _run(self) -> None:
        consuming = self._consume is None
        while True:
            if not consuming:
                consuming = await self._consume_dead_sends()
            try:
                await self.sweep()
            except (PyMongoError, PublishError) as exc:
                log.warning("sweep_failed", error=repr(exc)[:300])
            await asyncio.sleep(self._ctx.settings.outbox_sweep_seconds)

    async def _consume_dead_sends(self) -> bool:
        assert self._consume is not None
        try:
            await self.dead_sends.start(self._consume)
        except Exception as exc:  # the broker is away: try again on the next pass
            log.warning("dead_sends_not_consumed", error=repr(exc)[:300])
            return False
        return True

    async def sweep(self) -> dict[str, int]:
        """One pass; returns how many commands it published per reason."""
        found = {"stale_claims": await self.reclaim_stale(),
                 "undispatched": await self.publish_undispatched()}
        if self._ctx.outbox is not None:
            found["pending_events"] = await sweep_pending_events(self._ctx.db, self._ctx.outbox)
        if self._depth is not None:
            depth = await self._depth(topology.DEAD_QUEUE)
            if depth is not None:
                self._ctx.metrics.dead_letters.set(depth)
        return found

    async def publish_undispatched(self) -> int:
        ctx = self._ctx
        cutoff = ctx.now_dt() - timedelta(seconds=UNDISPATCHED_AFTER_SECONDS)
        query = {"status": MessageStatus.QUEUED.value, "dispatched": {"$ne": True},
                 "direction": "Outbound", "createdAt": {"$lt": cutoff}}
        docs = await ctx.db.messages.find(query, limit=BATCH).to_list(None)
        await asyncio.gather(*(self._publish(doc) for doc in docs))
        if docs:
            await ctx.db.messages.update_many(
                {"_id": {"$in": [d["_id"] for d in docs]}}, {"$set": {"dispatched": True}}
            )
            log.info("published_undispatched", count=len(docs))
        return len(docs)

    async def reclaim_stale(self) -> int:
        """Drop claims older than the claim timeout and mark those messages undispatched, in one
        conditional write each; :meth:`publish_undispatched` then gives them a new command (so a
        crash between the two steps repeats the publish, never loses it)."""
        ctx = self._ctx
        stale = ctx.now_dt() - timedelta(seconds=ctx.settings.claim_timeout_seconds)
        query = {"status": MessageStatus.QUEUED.value, "claimedAt": {"$lt": stale}}
        docs = await ctx.db.messages.find(query, limit=BATCH).to_list(None)
        reclaimed = 0
        for doc in docs:
            result = await ctx.db.messages.update_one(
                {"_id": doc["_id"], "status": MessageStatus.QUEUED.value,
                 "claimedAt": doc["claimedAt"]},
                {"$unset": {"claimedBy": "", "claimedAt": ""}, "$set": {"dispatched": False}},
            )
            reclaimed += result.modified_count
        if reclaimed:
            log.info("reclaimed_stale_claims", count=reclaimed)
        return reclaimed

    async def _publish(self, doc: dict[str, Any]) -> None:
        cmd = SendMessage(message_id=doc["_id"], whatsapp_account_id=doc["whatsappAccountId"],
                          user_id=doc["userId"])
        await self._ctx.broker.publish(topology.SEND, self._ctx.route(doc["whatsappAccountId"]),
                                       cmd, message_id=doc["_id"])
