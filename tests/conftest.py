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

import pytest

from relay import embedded
from shared.broker import Broker
from shared.db import Database, connect, ensure_indexes
from shared.settings import Settings, load_settings


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


@pytest.fixture
def amqp_url(rabbitmq: None) -> Iterator[str]:
    """A fresh vhost per test: durable queues of other tests cannot leak in."""
    name = f"relay-test-{uuid.uuid4().hex[:12]}"
    url = embedded.create_vhost(name)
    yield url
    embedded.delete_vhost(name)


@pytest.fixture
def settings(mongo_url: str, amqp_url: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own database, vhost, data dir and free ports."""
    port = embedded.free_port
    return load_settings(
        mongodb_url=mongo_url,
        mongodb_db=f"relay_test_{uuid.uuid4().hex[:12]}",
        amqp_url=amqp_url,
        data_dir=tmp_path / "relay",
        gateway_port=port(), ingest_port=port(), stats_port=port(), sender_port=port(),
        sim_port=port(),
        retry_base_seconds=0.2,
        outbox_sweep_seconds=0.5,
        log_format="json",
        log_level="INFO",
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    client = connect(settings.database_url)
    database = client[settings.mongodb_db]
    await ensure_indexes(database)
    yield database
    await client.drop_database(settings.mongodb_db)
    await client.close()


@pytest.fixture
async def broker(settings: Settings) -> AsyncIterator[Broker]:
    instance = Broker(settings.amqp_url, shards=settings.send_shards)
    await instance.connect()
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
