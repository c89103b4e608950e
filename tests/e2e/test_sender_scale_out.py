"""Three sender processes on eight shards: the shard leases spread the shards so every process
is active, and after ``kill -9`` of one its shards are consumed again within 10 s, with no
message lost or sent twice (counted at the simulator).

Ingest runs and the simulator posts its status webhooks, as in production: a send the killed
sender had in flight is recorded from its ``sent`` status before its claim goes stale."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared import topology
from shared.settings import Settings
from tests.conftest import eventually
from tests.e2e.sender_support import (
    metric,
    publish_all,
    queued,
    seeder_for,
    sim_call,
    start_senders,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHARDS = 8
SENDERS = 3
BEFORE, AFTER = 240, 120  # messages published before and after the kill
HANDOVER_SECONDS = 10.0
SENT = ["Sent", "Delivered", "Read"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Eight shards; short claim timeout so the dead sender's claims are taken over quickly."""
    return settings.model_copy(update={
        "send_shards": SHARDS, "claim_timeout_seconds": 4.0, "send_timeout_seconds": 2.0,
        "outbox_sweep_seconds": 0.5})


async def accounts_on_every_shard(seeder: Any) -> list[dict[str, Any]]:
    """One account per shard (accounts are hashed onto shards by id)."""
    by_shard: dict[int, dict[str, Any]] = {}
    while len(by_shard) < SHARDS:
        account = await seeder.account(rate=6000)
        by_shard.setdefault(topology.shard_of(account["_id"], SHARDS), account)
    return [by_shard[s] for s in range(SHARDS)]


async def gauges(http: Any, ports: list[int]) -> list[float]:
    return [await metric(http, p, "relay_sender_shards_owned") for p in ports]


class TestScaleOut:
    """Shards spread over the running senders and move off a dead one."""

    async def test_three_senders_then_kill_9(self, stack, db, broker, http) -> None:
        stack.start("sim")
        stack.start("ingest")
        ports = start_senders(stack, SENDERS)
        seeder = seeder_for(db, broker, stack)
        accounts = await accounts_on_every_shard(seeder)

        async def spread() -> list[float] | None:
            owned = await gauges(http, ports)
            return owned if sum(owned) == SHARDS and min(owned) >= 2 else None
        await eventually(spread, timeout=20, interval=0.2, message="8 shards over 3 senders")
        owners = {d["owner"] async for d in db.sender_leases.find({"expiresAt": {"$gt": 0}})}
        assert len(owners) == SENDERS, owners

        first = [d for a in accounts for d in await queued(seeder, a, BEFORE // SHARDS)]
        await publish_all(seeder, first, batch=100)

        async def all_active() -> list[float] | None:
            sends = [await metric(http, p, "relay_sends_total") for p in ports]
            return sends if min(sends) > 0 else None
        await eventually(all_active, timeout=30, interval=0.05, message="every sender sending")

        victim_port = ports[1]
        victim_shards = await metric(http, victim_port, "relay_sender_shards_owned")
        stack.kill("sender2")
        killed_at = time.monotonic()
        survivors = [ports[0], ports[2]]

        async def taken_over() -> bool:
            return sum(await gauges(http, survivors)) == SHARDS
        await eventually(taken_over, timeout=HANDOVER_SECONDS, interval=0.1,
                         message=f"the {victim_shards:.0f} shards of the killed sender taken")
        handover = time.monotonic() - killed_at
        assert handover < HANDOVER_SECONDS

        second = [d for a in accounts for d in await queued(seeder, a, AFTER // SHARDS)]
        await publish_all(seeder, second, batch=100)
        ids = [d["_id"] for d in first + second]

        async def all_sent() -> bool:
            sent = await db.messages.count_documents({"_id": {"$in": ids},
                                                      "status": {"$in": SENT}})
            return sent == len(ids)
        await eventually(all_sent, timeout=40, interval=0.5,
                         message=f"every message Sent (logs in {stack.log_dir})")
        counts = (await sim_call(http, stack, "GET", "sends/counts"))["counts"]
        per_message = {i: counts.get(i, 0) for i in ids}
        assert min(per_message.values()) == 1, "a message never reached the simulator"
        assert {i: n for i, n in per_message.items() if n > 1} == {}, "double sends"
        stack.stop()  # before the database fixture drops the database under live leases
