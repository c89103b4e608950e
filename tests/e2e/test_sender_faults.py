"""Sender crashes and broker restarts in the middle of a send run: every message ends Sent,
and the simulator counts no message twice.

Ingest runs and the simulator posts its status webhooks, as in production: a send the killed
sender had in flight (Meta accepted it, the sender died before recording it) is recorded from
its ``sent`` status, matched by the message id it echoes, before its claim goes stale."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from relay.embedded import free_port
from shared import topology
from tests.conftest import eventually
from tests.e2e.sender_support import (
    publish_all,
    queued,
    seeder_for,
    sim_call,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MESSAGES = 500


@pytest.fixture
def fault_settings(settings):
    """Short claim timeout so a dead sender's claims are taken over within seconds."""
    return settings.model_copy(update={"claim_timeout_seconds": 4.0, "send_timeout_seconds": 2.0,
                                       "outbox_sweep_seconds": 0.5})


@pytest.fixture
def fault_stack(stack, fault_settings):
    stack.settings = fault_settings
    return stack


SENT = ["Sent", "Delivered", "Read"]


async def past_queued(db, ids: list[str]) -> int:
    return await db.messages.count_documents({"_id": {"$in": ids}, "status": {"$in": SENT}})


async def run_with_fault(stack, db, broker, http, fault) -> dict[str, int]:
    """Send MESSAGES over 5 accounts, call ``fault`` when a fifth are Sent; return the counts."""
    stack.start("sim")
    stack.start("ingest")
    stack.start("sender", instance="sender1", port=free_port())
    seeder = seeder_for(db, broker, stack)
    accounts = [await seeder.account(rate=6000) for _ in range(5)]
    docs = [d for a in accounts for d in await queued(seeder, a, MESSAGES // 5)]
    ids = [d["_id"] for d in docs]
    await publish_all(seeder, docs, batch=100)

    async def some_sent() -> bool:
        return await past_queued(db, ids) >= MESSAGES // 5
    await eventually(some_sent, timeout=60, interval=0.02, message="a fifth Sent")
    await fault()

    async def all_sent() -> bool:
        return await past_queued(db, ids) == MESSAGES
    try:
        await eventually(all_sent, timeout=60, interval=0.5, message="every message Sent")
    except AssertionError:
        left = await db.messages.find({"_id": {"$in": ids}, "status": {"$nin": SENT}},
                                      {"status": 1, "claimedBy": 1, "claimedAt": 1,
                                       "dispatched": 1, "attempts": 1}).to_list(5)
        from shared.db import connect
        fresh = connect(stack.settings.database_url)
        seen = await fresh[stack.settings.mongodb_db].messages.count_documents(
            {"_id": {"$in": ids}, "status": {"$in": SENT}})
        await fresh.close()
        dead = await broker.queue_depth(topology.DEAD_QUEUE)
        raise AssertionError(f"not Sent, e.g. {left}; a new client sees {seen} Sent; "
                             f"{dead} dead letters; logs in {stack.log_dir}") from None
    counts = (await sim_call(http, stack, "GET", "sends/counts"))["counts"]
    return {i: counts.get(i, 0) for i in ids}


class TestSenderCrash:
    """kill -9 of the only sender mid-run, then a new one: nothing lost, nothing doubled."""

    async def test_kill_9_then_restart(self, fault_stack, db, broker, http):
        async def crash() -> None:
            fault_stack.kill("sender1")
            fault_stack.start("sender", instance="sender2", port=free_port())

        counts = await run_with_fault(fault_stack, db, broker, http, crash)
        doubles = {i: n for i, n in counts.items() if n > 1}
        assert min(counts.values()) == 1
        assert doubles == {}, f"{len(doubles)} double sends"


class TestBrokerRestart:
    """RabbitMQ stop_app/start_app mid-run. The suite runs one test at a time, and the test
    waits for the broker to be up again before it ends, so no other test sees the outage."""

    async def test_broker_restart(self, fault_stack, db, broker, http):
        async def restart() -> None:
            await asyncio.to_thread(subprocess.run, ["rabbitmqctl", "-q", "stop_app"], check=True)
            await asyncio.sleep(2)  # the outage itself, not a synchronisation
            await asyncio.to_thread(subprocess.run, ["rabbitmqctl", "-q", "start_app"], check=True)
            await asyncio.to_thread(subprocess.run, ["rabbitmqctl", "-q", "await_startup"],
                                    check=True)

        counts = await run_with_fault(fault_stack, db, broker, http, restart)
        assert min(counts.values()) == 1
        assert {i: n for i, n in counts.items() if n > 1} == {}
