"""``GET /queues/metrics``: waiting, active, completed and failed jobs per queue.

Waiting counts come from the broker (a passive declare per queue: no management plugin), the
rest from the database: a send is *active* while a sender holds its claim, *completed* once past
Queued, *failed* when Failed (those two from the caller's stats projection, so the cost does not
grow with the number of messages). Broker depths are the whole vhost's, not only the caller's.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiohttp import web
from pydantic import Field

from gateway import keys
from gateway.auth import principal_of
from gateway.errors import ApiError, ok
from gateway.spec import operation
from shared import topology
from shared.broker import Broker
from shared.db import Database
from shared.models import Direction, MessageStatus, Model, utcnow

COMPLETED = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


class QueueCounts(Model):
    """Jobs of one queue; ``null`` where the broker did not answer."""

    waiting: int | None = Field(description="Ready in the broker (delayed ones included).")
    active: int = Field(0, description="Being worked on right now.")
    completed: int = Field(0, description="Done.")
    failed: int | None = Field(0, description="Given up on.")


class Queues(Model):
    """Relay's queues, by role."""

    send: QueueCounts = Field(description="Send commands: the shard queues and delay queues; "
                                          "active = claimed by a sender, completed = past Queued, "
                                          "failed = Failed (your messages).")
    inbox: QueueCounts = Field(description="Verified webhooks waiting for the ingest worker; "
                                           "failed = dead-lettered (all queues pool there).")
    commands: QueueCounts = Field(description="Broker send commands from other services; "
                                              "failed = refused and parked.")
    events_stats: QueueCounts = Field(alias="events.stats",
                                      description="Events waiting for the stats projection.")
    dead: QueueCounts = Field(description="Poison messages in the dead-letter queue.")


class QueueMetrics(Model):
    """Queue metrics at ``generatedAt``, with the raw depth of every broker queue."""

    queues: Queues
    depths: dict[str, int | None] = Field(description="Ready messages per broker queue.")
    generated_at: datetime


async def broker_depths(broker: Broker, shards: int) -> dict[str, int | None]:
    """Ready messages in every queue of the topology, by name (None where unknown)."""
    names = topology.all_queues(shards)
    counts = await asyncio.gather(*(broker.queue_depth(name) for name in names))
    return dict(zip(names, counts, strict=True))


def _sum(depths: dict[str, int | None], names: list[str]) -> int | None:
    values = [depths.get(name) for name in names]
    return None if any(v is None for v in values) else sum(v or 0 for v in values)


async def send_counts(db: Database, user_id: str) -> tuple[int, int, int]:
    """(active, completed, failed) sends of the user."""
    active = await db.messages.count_documents({
        "userId": user_id, "status": MessageStatus.QUEUED.value,
        "direction": Direction.OUTBOUND.value, "claimedBy": {"$type": "string"},
    })
    outbound: dict[str, int] = {}
    async for doc in db.stats_accounts.find({"userId": user_id}, {"outboundByStatus": 1}):
        for status, count in (doc.get("outboundByStatus") or {}).items():
            outbound[status] = outbound.get(status, 0) + int(count or 0)
    completed = sum(outbound.get(status.value, 0) for status in COMPLETED)
    return active, completed, outbound.get(MessageStatus.FAILED.value, 0)


def assemble(
    depths: dict[str, int | None], shards: int, sends: tuple[int, int, int]
) -> Queues:
    """The per-role view of the raw depths and the database counts."""
    shard_and_delay = [topology.shard_queue(s) for s in range(shards)] + [
        topology.wait_queue(level) for level in range(topology.WAIT_LEVELS)
    ]
    active, completed, failed = sends
    dead = depths.get(topology.DEAD_QUEUE)
    return Queues(
        send=QueueCounts(waiting=_sum(depths, shard_and_delay), active=active,
                         completed=completed, failed=failed),
        inbox=QueueCounts(waiting=depths.get(topology.INBOX_QUEUE), failed=dead),
        commands=QueueCounts(waiting=depths.get(topology.INTAKE_QUEUE),
                             failed=depths.get(topology.REJECTED_QUEUE)),
        events_stats=QueueCounts(waiting=depths.get(topology.STATS_QUEUE)),
        dead=QueueCounts(waiting=dead),
    )


@operation(summary="Queue metrics", tag="Queues", scope="messages:read", response=QueueMetrics,
           errors=(401, 403))
async def get_queue_metrics(request: web.Request) -> web.Response:
    """Waiting, active, completed and failed jobs per queue, from the broker and the database."""
    settings = request.app[keys.SETTINGS]
    depths, sends = await asyncio.gather(
        broker_depths(request.app[keys.BROKER], settings.send_shards),
        send_counts(request.app[keys.DB], principal_of(request).user_id),
    )
    if all(value is None for value in depths.values()):
        raise ApiError(503, "The message broker is unavailable; try again shortly",
                       "SERVICE_UNAVAILABLE", headers={"Retry-After": "1"})
    metrics = QueueMetrics(queues=assemble(depths, settings.send_shards, sends), depths=depths,
                           generated_at=utcnow())
    return ok(metrics.model_dump(by_alias=True))

