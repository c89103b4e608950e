"""Shared pieces of the sender's end-to-end tests: processes, direct seeding, send-log checks."""

from __future__ import annotations

import asyncio
import bisect
from typing import Any

import aiohttp

from relay.embedded import free_port
from shared import topology
from shared.broker import Broker
from shared.db import Database
from tests.harness import Stack
from tests.integration.sender.support import Seeder

WINDOW = 60.0


def max_in_any_window(times: list[float], window: float = WINDOW) -> int:
    """The most sends inside any half-open window ``[t, t + window)``."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered)),
               default=0)


def start_senders(stack: Stack, count: int) -> list[int]:
    """Start ``count`` sender processes; return their health/metrics ports."""
    ports = []
    for n in range(count):
        port = free_port()
        stack.start("sender", instance=f"sender{n + 1}", port=port)
        ports.append(port)
    return ports


async def metric(http: aiohttp.ClientSession, port: int, name: str) -> float:
    """The sum of a Prometheus metric's samples (every label set) on a sender."""
    async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


async def sim_call(http: aiohttp.ClientSession, stack: Stack, method: str, path: str,
                   body: Any = None) -> Any:
    url = f"http://127.0.0.1:{stack.settings.sim_port}/_sim/{path}"
    async with http.request(method, url, json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def quiet_sim(http: aiohttp.ClientSession, stack: Stack) -> None:
    """Start the simulator with no status webhooks (no ingest runs in these tests)."""
    stack.start("sim")
    await sim_call(http, stack, "POST", "config", {"autoStatuses": False})


async def publish_all(seeder: Seeder, docs: list[dict[str, Any]], *, batch: int = 200) -> None:
    for start in range(0, len(docs), batch):
        await asyncio.gather(*(seeder.publish(d) for d in docs[start:start + batch]))


async def count_status(db: Database, ids: list[str], status: str) -> int:
    return await db.messages.count_documents({"_id": {"$in": ids}, "status": status})


async def queued(seeder: Seeder, account: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Messages as the gateway leaves them once its outbox ran: the queued event recorded and
    the command confirmed (so no sweep republishes them while the test is still publishing)."""
    return await seeder.messages(account, count, dispatched=True, eventPending=False)


def seeder_for(db: Database, broker: Broker, stack: Stack) -> Seeder:
    return Seeder(db, broker, stack.settings)


def same_shard(account_id: str, other_id: str, shards: int) -> bool:
    return topology.shard_of(account_id, shards) == topology.shard_of(other_id, shards)
