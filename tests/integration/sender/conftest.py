"""The sender in-process against the real broker, the embedded database and the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sender.main import SenderService, bootstrap
from shared.broker import Broker
from shared.db import Database
from shared.settings import Settings
from simulator.app import create_app
from tests.integration.sender.support import Seeder, SimControl

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def sender_vhost(vhost_pool: Any) -> Iterator[str]:
    """One vhost for all of the sender's integration tests: creating and deleting vhosts with
    quorum queues is slow on a shared broker. Each test still has its own database, so commands
    left over by an earlier test find no message and are dropped."""
    url = vhost_pool.take()
    yield url
    vhost_pool.give_back(url)


@pytest.fixture
def amqp_url(sender_vhost: str) -> str:
    return sender_vhost


@pytest.fixture
async def sim(settings: Settings) -> AsyncIterator[SimControl]:
    """The simulator app on ``settings.sim_port``, without automatic status webhooks."""
    runner = web.AppRunner(create_app(settings, retry_window=1.0), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.sim_port).start()
    async with aiohttp.ClientSession() as http:
        control = SimControl(f"http://127.0.0.1:{settings.sim_port}", http)
        await control.call("POST", "config", {"autoStatuses": False})
        yield control
    await runner.cleanup()


@pytest.fixture
def seeder(db: Database, broker: Broker, settings: Settings) -> Seeder:
    return Seeder(db, broker, settings)


class Senders:
    """Sender services started in this test (``start()``, ``stop(service)``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.running: list[SenderService] = []

    async def start(self, settings: Settings | None = None) -> SenderService:
        service = bootstrap(settings or self.settings)
        await service.start()
        self.running.append(service)
        return service

    async def stop(self, service: SenderService) -> None:
        self.running.remove(service)
        await service.stop()


@pytest.fixture
async def senders(settings: Settings, sim: SimControl) -> AsyncIterator[Senders]:
    started = Senders(settings)
    yield started
    for service in list(started.running):
        await started.stop(service)


@pytest.fixture
async def sender(senders: Senders) -> SenderService:
    return await senders.start()


def _dump_tasks(*_: object) -> None:  # diagnostics: `kill -USR1 <pytest pid>` prints every task
    import asyncio
    import sys

    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        return
    for task in asyncio.all_tasks(loop):
        task.print_stack(limit=8, file=sys.stderr)


def pytest_configure(config: pytest.Config) -> None:
    import signal

    signal.signal(signal.SIGUSR1, _dump_tasks)
