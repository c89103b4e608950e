"""``GET /queues/metrics``: waiting, active, completed and failed jobs per queue.

``waiting`` is the broker's: messages ready in the queue (a passive declare per queue, no
management plugin), for the whole installation. A depth is operational, not a count of anyone's
messages: a queue holds commands, webhooks and events of every tenant, and telling them apart
would mean reading them. ``active``, ``completed`` and ``failed`` count the caller's own
messages (gateway/queue_jobs.py), or are ``null`` where the queue's work cannot be observed
exactly (a consumer's unacknowledged deliveries need the management plugin). docs/API.md has
the table.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Protocol

from aiohttp import web
from pydantic import Field

from gateway import keys
from gateway.auth import principal_of
from gateway.errors import ApiError, ok
from gateway.queue_jobs import MongoQueueJobs, QueueJobs, UserJobs
from gateway.spec import operation
from shared import topology
from shared.db import created_ms
from shared.models import Model, utcnow

Depths = dict[str, int | None]


class DepthSource(Protocol):
    """Ready messages of a broker queue (:class:`shared.broker.Broker` is one)."""

    async def queue_depth(self, queue_name: str) -> int | None: ...


class QueueCounts(Model):
    """Jobs of one queue; ``null`` where the number cannot be known."""

    waiting: int | None = Field(description="Ready in the broker queue(s), every tenant's; "
                                            "null when the broker did not answer.")
    active: int | None = Field(None, description="Of your messages, being worked on right now; "
                                                 "null where not observable.")
    completed: int | None = Field(None, description="Of your messages, done; null where not "
                                                    "observable.")
    failed: int | None = Field(None, description="Given up on (see the queue); null where not "
                                                 "observable.")


class Queues(Model):
    """Relay's work queues, by role."""

    send: QueueCounts = Field(description="relay.send.<shard>: waiting = ready send commands "
                                          "(all shards; deferred ones are in `delayed`); active "
                                          "= your Queued messages a sender holds a live claim "
                                          "on; completed = your outbound Sent, Delivered or "
                                          "Read; failed = your outbound Failed.")
    inbox: QueueCounts = Field(description="relay.inbox: waiting = verified webhooks for the "
                                           "ingest worker; completed = your inbound messages "
                                           "received; active and failed are null.")
    commands: QueueCounts = Field(description="relay.commands.intake: waiting = broker send "
                                              "commands; failed = refused commands parked on "
                                              "relay.commands.rejected (every tenant's); active "
                                              "and completed are null.")
    events_stats: QueueCounts = Field(alias="events.stats",
                                      description="relay.events.stats: waiting = events for the "
                                                  "stats projection; active = events of your "
                                                  "messages it is applying right now; completed "
                                                  "and failed are null.")
    dead: QueueCounts = Field(description="relay.dead: waiting = poison messages of every queue "
                                          "awaiting an operator; active, completed and failed "
                                          "are null.")


class QueueMetrics(Model):
    """Queue metrics at ``generatedAt``, with the raw depth of every broker queue."""

    queues: Queues
    delayed: int | None = Field(description="Deferred messages in the delay levels "
                                            "(relay.wait.*): paced, scheduled and backed-off "
                                            "commands of every queue, every tenant's.")
    depths: Depths = Field(description="Ready messages per broker queue.")
    generated_at: datetime


async def broker_depths(broker: DepthSource, shards: int) -> Depths:
    """Ready messages in every queue of the topology, by name (None where unknown)."""
    names = topology.all_queues(shards)
    counts = await asyncio.gather(*(broker.queue_depth(name) for name in names))
    return dict(zip(names, counts, strict=True))


def _sum(depths: Depths, names: list[str]) -> int | None:
    values = [depths.get(name) for name in names]
    return None if any(v is None for v in values) else sum(v or 0 for v in values)


def delayed(depths: Depths) -> int | None:
    """Messages waiting in the delay levels, whatever queue they go back to."""
    return _sum(depths, [topology.wait_queue(level) for level in range(topology.WAIT_LEVELS)])


def assemble(depths: Depths, shards: int, jobs: UserJobs) -> Queues:
    """The per-queue view of the broker depths and the caller's job counts."""
    shard_queues = [topology.shard_queue(s) for s in range(shards)]
    return Queues(
        send=QueueCounts(waiting=_sum(depths, shard_queues), active=jobs.claimed,
                         completed=jobs.sent, failed=jobs.failed),
        inbox=QueueCounts(waiting=depths.get(topology.INBOX_QUEUE), completed=jobs.inbound),
        commands=QueueCounts(waiting=depths.get(topology.INTAKE_QUEUE),
                             failed=depths.get(topology.REJECTED_QUEUE)),
        events_stats=QueueCounts(waiting=depths.get(topology.STATS_QUEUE),
                                 active=jobs.events_in_flight),
        dead=QueueCounts(waiting=depths.get(topology.DEAD_QUEUE)),
    )


async def queue_metrics(
    broker: DepthSource, jobs: QueueJobs, *, user_id: str, shards: int
) -> QueueMetrics:
    """The metrics as ``user_id`` sees them; 503 when the broker answers for no queue."""
    now = utcnow()
    depths, counts = await asyncio.gather(
        broker_depths(broker, shards), jobs.of_user(user_id, now_ms=created_ms(now)))
    if all(value is None for value in depths.values()):
        raise ApiError(503, "The message broker is unavailable; try again shortly",
                       "SERVICE_UNAVAILABLE", headers={"Retry-After": "1"})
    return QueueMetrics(queues=assemble(depths, shards, counts), delayed=delayed(depths),
                        depths=depths, generated_at=now)


@operation(summary="Queue metrics", tag="Queues", scope="messages:read", response=QueueMetrics,
           errors=(401, 403))
async def get_queue_metrics(request: web.Request) -> web.Response:
    """Waiting, active, completed and failed jobs per queue (docs/API.md says what each is)."""
    metrics = await queue_metrics(
        request.app[keys.BROKER], MongoQueueJobs(request.app[keys.DB]),
        user_id=principal_of(request).user_id, shards=request.app[keys.SETTINGS].send_shards)
    return ok(metrics.model_dump(by_alias=True))
