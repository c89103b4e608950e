"""``relay dead-letters replay --dry-run`` on the real broker: it shows what a replay would send
where, and leaves the dead-letter queue and the origin queue as they were."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from relay.deadletters import list_dead, replay_dead
from shared import topology
from shared.broker import Broker
from shared.settings import Settings, env_for
from tests.conftest import eventually

pytestmark = pytest.mark.integration

ORIGIN = topology.INTAKE_QUEUE  # dead-lettered, and open to basic.get (no single active consumer)


async def dead_letter(broker: Broker, body: dict[str, str]) -> None:
    """Publish ``body`` to the intake queue and reject it there: the broker moves it to
    relay.dead."""
    queue_name = ORIGIN
    await broker.publish_to_queue(queue_name, body)
    channel = await broker.connection.channel()
    try:
        queue = await channel.declare_queue(queue_name, passive=True)
        message = await eventually(lambda: queue.get(fail=False), message="a delivery")
        await message.reject(requeue=False)
    finally:
        await channel.close()


async def until_depths(broker: Broker, dead: int, origin: int, what: str) -> None:
    """Poll until relay.dead holds ``dead`` messages and the origin queue ``origin``."""
    async def reached() -> bool:
        return (await broker.queue_depth(topology.DEAD_QUEUE),
                await broker.queue_depth(ORIGIN)) == (dead, origin)

    await eventually(reached, message=what)


def cli(settings: Settings, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relay.cli", "dead-letters", *argv],
                          env=env_for(settings), capture_output=True, text=True, timeout=120,
                          check=False)


async def test_dry_run_shows_the_replay_and_changes_nothing(
    broker: Broker, settings: Settings
) -> None:
    await dead_letter(broker, {"poison": "first"})
    await dead_letter(broker, {"poison": "second"})
    await until_depths(broker, 2, 0, "two dead letters")
    before = await list_dead(settings, limit=10)

    done = await asyncio.to_thread(cli, settings, "replay", "--dry-run")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["dryRun"] is True and plan["wouldReplay"] == 2 and plan["skipped"] == 0
    assert plan["byQueue"] == {ORIGIN: 2}
    assert sorted(m["body"]["poison"] for m in plan["messages"]) == ["first", "second"]

    await until_depths(broker, 2, 0, "queues unchanged")
    after = await list_dead(settings, limit=10)
    assert sorted(json.dumps(m["body"]) for m in after) == sorted(
        json.dumps(m["body"]) for m in before)

    # The same command without --dry-run does move them: the check above can fail.
    assert (await replay_dead(settings, limit=10))["replayed"] == 2
    await until_depths(broker, 0, 2, "replayed")


def test_dry_run_goes_with_replay_only(settings: Settings) -> None:
    done = cli(settings, "list", "--dry-run")
    assert done.returncode != 0 and "--dry-run goes with replay" in done.stderr
