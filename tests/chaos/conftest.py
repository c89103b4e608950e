"""Fixtures of the fault suite: a dedicated database server that can be killed, a stallable
proxy in front of RabbitMQ, and the whole stack (simulator and four services) wired to both."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from relay import embedded
from relay.embedded import EmbeddedMongo
from shared.db import Database, connect, ensure_indexes
from shared.settings import Settings, load_settings
from tests.chaos.proxy import StallableProxy
from tests.harness import Stack, running_stack

LONG = os.environ.get("RELAY_CHAOS_LONG") == "1"


@dataclass
class KillableMongo:
    """An nx-27017 of the fault suite's own: ``kill()`` is ``kill -9``, ``restart()`` brings it
    back on the same port and data directory."""

    data_dir: Path
    port: int
    server: EmbeddedMongo | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> None:
        self.server = embedded.start_mongo(self.data_dir, port=self.port, record=False)

    def kill(self) -> None:
        assert self.server is not None
        os.killpg(self.server.process.pid, signal.SIGKILL)
        self.server.process.wait()
        self.server = None

    def restart(self) -> None:
        if self.server is not None:
            self.kill()
        self.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def chaos_mongo(tmp_path: Path) -> Iterator[KillableMongo]:
    mongo = KillableMongo(tmp_path / "chaosdb", embedded.free_port())
    mongo.start()
    yield mongo
    mongo.stop()


@pytest.fixture
def broker_proxy() -> Iterator[StallableProxy]:
    proxy = StallableProxy()
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def chaos_settings(
    settings: Settings, chaos_mongo: KillableMongo, broker_proxy: StallableProxy, amqp_url: str
) -> Settings:
    """The test settings on the killable database and, through the proxy, the test's vhost
    (a short heartbeat, so a stall is noticed); retries, claims and sweeps short enough for
    recovery to fit in a test."""
    return load_settings(**{
        **settings.model_dump(exclude_unset=True),
        "mongodb_url": chaos_mongo.url, "mongodb_db": "relay_chaos",
        "amqp_url": broker_proxy.url(amqp_url.rsplit("/", 1)[1]) + "?heartbeat=5",
        "retry_base_seconds": 0.5, "send_timeout_seconds": 6.0, "send_in_doubt_seconds": 8.0,
        "claim_timeout_seconds": 15.0, "outbox_sweep_seconds": 1.0,
        "api_rate_per_second": 10_000.0, "api_rate_burst": 10_000,
    })


@pytest.fixture
def direct_amqp_url(amqp_url: str) -> str:
    """The same vhost, straight to RabbitMQ (for the test's own inspection)."""
    return amqp_url


@pytest.fixture
async def chaos_db(chaos_settings: Settings) -> AsyncIterator[Database]:
    client = connect(chaos_settings.mongodb_url or "", timeout_ms=15_000)
    database = client[chaos_settings.mongodb_db]
    await ensure_indexes(database)
    yield database
    await client.close()


@pytest.fixture
def chaos_stack(chaos_settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    yield from running_stack(chaos_settings, tmp_path / "logs")
