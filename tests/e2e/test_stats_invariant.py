"""Invariant 4 end to end: the stats service, as its own OS process, killed with ``kill -9`` in
the middle of a randomized stream of duplicated, reordered events, ends with every counter equal
to a count over ``messages``; ``relay stats rebuild`` reproduces the same numbers."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared import topology
from shared.broker import Broker
from shared.db import Database
from shared.models import MessageEvent
from shared.settings import Settings
from stats.store import ACCOUNTS, MESSAGES
from tests.conftest import eventually
from tests.harness import Stack
from tests.stats_support import (
    assert_counters_match,
    make_histories,
    own_vhost,  # noqa: F401 - the amqp_url fixture: one vhost, not a pool batch
    shuffled_with_duplicates,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


async def publish(broker: Broker, events: list[MessageEvent], width: int = 50) -> None:
    for start in range(0, len(events), width):
        await asyncio.gather(*(
            broker.publish(topology.EVENTS, e.type, e, message_id=e.event_id)
            for e in events[start:start + width]
        ))


def rejected(n: int) -> list[MessageEvent]:
    """``message.rejected`` events: on the same routing, belonging to no message."""
    return [MessageEvent(
        event_id=f"rejected:{i}", type="message.rejected", occurred_at=datetime.now(UTC),
        message_id=None, user_id="someone", whatsapp_account_id=None, direction=None,
        message_type=None, status=None, previous_status=None, reason="invalid to",
    ) for i in range(n)]


async def counters_match(db: Database, histories: list[Any]) -> bool:
    accounts = {doc["_id"]: doc async for doc in db[ACCOUNTS].find({})}
    messages = [doc async for doc in db.messages.find({})]
    try:
        assert_counters_match(accounts, messages, histories)
    except AssertionError:
        return False
    return True


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


class TestStatsInvariant:
    """Exact counters through duplicates, reorderings and a kill -9 of the stats service."""

    async def test_kill_minus_nine_in_the_middle(
        self, settings: Settings, db: Database, broker: Broker, tmp_path: Path
    ) -> None:
        rng = random.Random(2026)
        histories = make_histories(rng, messages=400, users=4, accounts_per_user=2)
        await db.messages.insert_many([h.doc for h in histories])
        await db.events.insert_many([
            {"_id": e.event_id, **e.model_dump(by_alias=True, mode="python")}
            for h in histories for e in h.events
        ])
        stream = shuffled_with_duplicates(rng, histories, duplicates=0.4) + rejected(5)
        rng.shuffle(stream)
        half = len(stream) // 2
        stack = Stack(settings, tmp_path / "logs")
        try:
            stack.start("stats")
            await publish(broker, stream[:half])
            await eventually(
                lambda: db[MESSAGES].count_documents({}), timeout=30,
                message="the first events projected",
            )
            stack.kill("stats")  # kill -9 while most of the first half is still queued
            in_queue = await broker.queue_depth(topology.STATS_QUEUE)
            await publish(broker, stream[half:])
            stack.start("stats")
            await eventually(lambda: counters_match(db, histories), timeout=120, interval=0.5,
                             message="counters equal to a count over messages")
            metrics = await asyncio.to_thread(scrape, settings.stats_port)
            assert 'relay_projection_events_total{outcome="applied"}' in metrics
            assert 'relay_projection_events_total{outcome="skipped"}' in metrics
            assert "relay_projection_lag_seconds" in metrics
            async def depths_exported() -> bool:
                return "relay_queue_depth{" in await asyncio.to_thread(scrape, settings.stats_port)

            await eventually(depths_exported, timeout=15, message="queue depths exported")
        finally:
            stack.stop()
        assert in_queue, "the kill came with events still waiting"
        rebuild = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "relay.cli", "stats", "rebuild", env=stack.env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(rebuild.communicate(), 120)
        assert rebuild.returncode == 0, err.decode()
        summary = json.loads(out.decode().strip().splitlines()[-1])
        assert summary["changedAccounts"] == 0, summary
        assert summary["events"] == sum(len(h.events) for h in histories)
        assert await counters_match(db, histories)
