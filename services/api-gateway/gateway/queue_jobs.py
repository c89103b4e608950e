"""The per-user job counts behind ``GET /queues/metrics``: a port, its MongoDB adapter.

Every count here is about the caller's own messages (a user sees only its own messages), exact,
and costs the same at any number of messages:

- ``claimed``: the user's ``Queued`` messages a sender holds a live lease on right now
  (``claimUntil`` in the future; shared/message_store.py). One ``$count`` aggregate on the
  ``(userId, status, claimUntil)`` index: equalities written ``$eq`` and one numeric range, so
  an index range on both servers (``count_documents`` and dates scan on the embedded server).
  Messages stored before ``claimUntil`` existed are not counted.
- the rest from the stats projection's ``stats_accounts`` documents of the user (one per
  account, on the ``userId`` index; docs/STATS.md): ``outboundByStatus``, inbound messages
  (``byDirection.Inbound``) and the events being applied right now (the ``inflight`` tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.db import Database
from shared.models import Direction, MessageStatus

QUEUED = MessageStatus.QUEUED.value
COMPLETED = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


@dataclass(frozen=True)
class UserJobs:
    """One user's job counts (see the module docstring for what each is)."""

    claimed: int = 0
    outbound_by_status: dict[str, int] = field(default_factory=dict)
    inbound: int = 0
    events_in_flight: int = 0

    @property
    def sent(self) -> int:
        """Outbound messages past ``Queued`` and not failed: Sent, Delivered or Read."""
        return sum(self.outbound_by_status.get(status.value, 0) for status in COMPLETED)

    @property
    def failed(self) -> int:
        return self.outbound_by_status.get(MessageStatus.FAILED.value, 0)


class QueueJobs(Protocol):
    """Where the per-user job counts come from."""

    async def of_user(self, user_id: str, *, now_ms: int) -> UserJobs:
        """The counts of ``user_id``'s messages at ``now_ms`` (epoch milliseconds)."""
        ...


class MongoQueueJobs:
    """:class:`QueueJobs` over ``messages`` (live claims) and ``stats_accounts``."""

    def __init__(self, db: Database) -> None:
        self._messages = db.messages
        self._stats = db.stats_accounts

    async def of_user(self, user_id: str, *, now_ms: int) -> UserJobs:
        by_status: dict[str, int] = {}
        inbound = in_flight = 0
        projection = {"outboundByStatus": 1, "byDirection": 1, "inflight": 1}
        async for doc in self._stats.find({"userId": {"$eq": user_id}}, projection):
            _add(by_status, doc.get("outboundByStatus") or {})
            inbound += int((doc.get("byDirection") or {}).get(Direction.INBOUND.value) or 0)
            in_flight += len(doc.get("inflight") or [])
        return UserJobs(claimed=await self._claimed(user_id, now_ms),
                        outbound_by_status=by_status, inbound=inbound,
                        events_in_flight=in_flight)

    async def _claimed(self, user_id: str, now_ms: int) -> int:
        where = {"userId": {"$eq": user_id}, "status": {"$eq": QUEUED},
                 "claimUntil": {"$gt": now_ms}}
        pipeline: list[dict[str, Any]] = [{"$match": where}, {"$count": "n"}]
        rows = await (await self._messages.aggregate(pipeline)).to_list()
        return int(rows[0]["n"]) if rows else 0  # nx-27017 answers [{n: 0}], MongoDB []


def _add(total: dict[str, int], counts: dict[str, Any]) -> None:
    for status, count in counts.items():
        total[status] = total.get(status, 0) + int(count or 0)
