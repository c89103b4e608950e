"""GET /queues/metrics without a broker or database: depths and job counts per queue."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from gateway.errors import ApiError
from gateway.handlers.queues import assemble, queue_metrics
from gateway.queue_jobs import UserJobs
from shared import topology

pytestmark = pytest.mark.unit
SHARDS = 2


@dataclass
class FakeBroker:
    """Queue depths by name; a missing name is 0, ``down`` answers None for every queue."""

    depths: dict[str, int] = field(default_factory=dict)
    down: bool = False

    async def queue_depth(self, queue_name: str) -> int | None:
        return None if self.down else self.depths.get(queue_name, 0)


@dataclass
class FakeQueueJobs:
    """In-memory :class:`gateway.queue_jobs.QueueJobs`: fixed counts per user."""

    by_user: dict[str, UserJobs] = field(default_factory=dict)
    asked: list[tuple[str, int]] = field(default_factory=list)

    async def of_user(self, user_id: str, *, now_ms: int) -> UserJobs:
        self.asked.append((user_id, now_ms))
        return self.by_user.get(user_id, UserJobs())


class TestAssemble:
    """Each queue takes its own depth; the send queue's are the shard queues only."""

    def test_send_waiting_is_the_shard_queues_without_the_delay_levels(self) -> None:
        depths: dict[str, int | None] = dict.fromkeys(topology.all_queues(SHARDS), 0)
        depths[topology.shard_queue(1)] = 2
        depths[topology.wait_queue(0)] = 3
        jobs = UserJobs(claimed=1, outbound_by_status={"Sent": 2, "Read": 3, "Failed": 6})
        queues = assemble(depths, SHARDS, jobs)
        assert queues.send.model_dump() == {"waiting": 2, "active": 1, "completed": 5,
                                            "failed": 6}

    def test_every_queue_has_its_own_numbers(self) -> None:
        depths: dict[str, int | None] = dict.fromkeys(topology.all_queues(SHARDS), 0)
        depths.update({topology.INBOX_QUEUE: 1, topology.INTAKE_QUEUE: 2,
                       topology.REJECTED_QUEUE: 3, topology.STATS_QUEUE: 4,
                       topology.DEAD_QUEUE: 5})
        queues = assemble(depths, SHARDS, UserJobs(inbound=7, events_in_flight=8))
        assert queues.model_dump(by_alias=True, exclude={"send"}) == {
            "inbox": {"waiting": 1, "active": None, "completed": 7, "failed": None},
            "commands": {"waiting": 2, "active": None, "completed": None, "failed": 3},
            "events.stats": {"waiting": 4, "active": 8, "completed": None, "failed": None},
            "dead": {"waiting": 5, "active": None, "completed": None, "failed": None},
        }

    def test_unknown_depth_is_null_not_zero(self) -> None:
        depths: dict[str, int | None] = dict.fromkeys(topology.all_queues(SHARDS), 0)
        depths[topology.shard_queue(0)] = None
        assert assemble(depths, SHARDS, UserJobs()).send.waiting is None


class TestQueueMetrics:
    """The caller's counts, the whole broker's depths, delayed apart."""

    async def test_counts_are_the_callers_and_depths_the_brokers(self) -> None:
        broker = FakeBroker({topology.shard_queue(0): 4, topology.wait_queue(3): 2,
                             topology.wait_queue(7): 1})
        jobs = FakeQueueJobs({"alice": UserJobs(claimed=2), "bob": UserJobs(claimed=9)})
        metrics = await queue_metrics(broker, jobs, user_id="alice", shards=SHARDS)
        assert (metrics.queues.send.waiting, metrics.queues.send.active) == (4, 2)
        assert metrics.delayed == 3
        assert metrics.depths[topology.wait_queue(3)] == 2
        assert [user for user, _ in jobs.asked] == ["alice"]

    async def test_a_broker_that_answers_nothing_is_503(self) -> None:
        with pytest.raises(ApiError) as caught:
            await queue_metrics(FakeBroker(down=True), FakeQueueJobs(), user_id="a",
                                shards=SHARDS)
        assert caught.value.status == 503


class TestUserJobs:
    """Completed sends are Sent, Delivered and Read; Queued and Cancelled are neither."""

    def test_sent_and_failed(self) -> None:
        jobs = UserJobs(outbound_by_status={"Queued": 5, "Sent": 1, "Delivered": 2, "Read": 3,
                                            "Failed": 4, "Cancelled": 6})
        assert (jobs.sent, jobs.failed) == (6, 4)
