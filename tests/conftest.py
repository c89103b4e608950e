"""Fixtures for every tier: the real RabbitMQ (a fresh vhost per test), the embedded
MongoDB-wire server (one per session, a fresh database per test), settings and clients."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from relay import embedded
from shared.broker import Broker
from shared.db import Database, connect, ensure_indexes
from shared.settings import Settings, load_settings
from tests.harness import Stack, running_stack

# A loaded machine answers an AMQP handshake slowly: fixtures wait longer than services do.
TEST_CONNECT_SECONDS = 30.0


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded database server for the whole run (or RELAY_TEST_MONGODB_URL)."""
    if url := os.environ.get("RELAY_TEST_MONGODB_URL"):
        yield url
        return
    server = embedded.start_mongo(tmp_path_factory.mktemp("mongo"), record=False)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def rabbitmq() -> None:
    """The local RabbitMQ, started if it is down."""
    embedded.ensure_rabbitmq()


class VhostPool:
    """Fresh RabbitMQ vhosts, created in batches (one rabbitmqctl call each), all deleted at
    the end of the session."""

    def __init__(self, batch: int = 10) -> None:
        self._batch = batch
        self._free: list[str] = []
        self._used: list[str] = []
        self.created: list[str] = []

    def take(self) -> str:
        if not self._free:
            names = [f"relay-test-{uuid.uuid4().hex[:12]}" for _ in range(self._batch)]
            self._free = embedded.create_vhosts(names)
            self.created += names
        return self._free.pop()

    def give_back(self, url: str) -> None:
        """A used vhost holds queues (quorum queues are Raft groups): delete them in batches."""
        self._used.append(url.rsplit("/", 1)[1])
        if len(self._used) >= 5:
            embedded.delete_vhosts(self._used)
            self._used = []

    def close(self) -> None:
        embedded.delete_vhosts(self._used + [url.rsplit("/", 1)[1] for url in self._free])


@pytest.fixture(scope="session")
def vhost_pool(rabbitmq: None) -> Iterator[VhostPool]:
    if os.environ.get("CI"):
        # A run that was killed leaves its vhosts (and their quorum queues) behind.
        embedded.delete_vhosts(embedded.list_vhosts("relay-test-"))
    pool = VhostPool()
    yield pool
    pool.close()


@pytest.fixture
def amqp_url(vhost_pool: VhostPool) -> Iterator[str]:
    """A fresh vhost per test: durable queues of other tests cannot leak in."""
    url = vhost_pool.take()
    yield url
    vhost_pool.give_back(url)


@pytest.fixture
def db_name() -> str:
    return f"relay_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(mongo_url: str, amqp_url: str, db_name: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own database, vhost, data dir and free ports."""
    port = embedded.free_port
    return load_settings(
        mongodb_url=mongo_url,
        mongodb_db=db_name,
        amqp_url=amqp_url,
        data_dir=tmp_path / "relay",
        gateway_port=port(), ingest_port=port(), stats_port=port(), sender_port=port(),
        sim_port=port(),
        retry_base_seconds=0.2,
        send_in_doubt_seconds=1.0,
        send_shards=4,
        outbox_sweep_seconds=0.5,
        log_format="json",
        log_level="INFO",
    )


@pytest.fixture
async def db(mongo_url: str, db_name: str) -> AsyncIterator[Database]:
    """The test's own database (the same one ``settings`` names), with every index."""
    client = connect(mongo_url)
    database = client[db_name]
    await ensure_indexes(database)
    yield database
    await client.drop_database(db_name)
    await client.close()


@pytest.fixture
def stack(settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    """Relay's services as OS processes (``tests.harness.Stack``), started by the test."""
    yield from running_stack(settings, tmp_path / "logs")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
async def broker(settings: Settings) -> AsyncIterator[Broker]:
    instance = Broker(settings.amqp_url, shards=settings.send_shards)
    await instance.connect(timeout=TEST_CONNECT_SECONDS)
    yield instance
    await instance.close()


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 10.0, interval: float = 0.05,
    message: str = "condition",
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout} s (last: {last!r})")
