"""Broker away → 503, so Meta retries; once it is back, the retry is applied exactly once.

"Away" without touching the shared RabbitMQ: the app reaches the broker through a TCP proxy on a
port of its own, which the test starts, and later cuts (closing every connection) and restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from relay.embedded import free_port
from shared.db import Database
from shared.settings import Settings
from tests import ingest_payloads as p
from tests.conftest import eventually
from tests.integration.ingest.conftest import Account, Ingest, until_ready


class Proxy:
    """A TCP forwarder to the local RabbitMQ that can be stopped and started."""

    def __init__(self, port: int, target: tuple[str, int] = ("127.0.0.1", 5672)) -> None:
        self.port = port
        self._target = target
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()
        self._writers.discard(writer)


def through(settings: Settings, port: int) -> Settings:
    vhost = settings.amqp_url.rsplit("/", 1)[1]
    return settings.model_copy(update={"amqp_url": f"amqp://guest:guest@127.0.0.1:{port}/{vhost}"})


async def until_status(ingest: Ingest, expected: int, payload: dict[str, Any]) -> None:
    async def answers() -> bool:
        return await ingest.post(payload) == expected

    await eventually(answers, timeout=30, interval=0.2, message=f"webhook answers {expected}")


class TestBrokerDown:
    """503 while the broker is away; Meta's retry after it returns is applied once."""

    async def test_down_at_start_then_back(
        self, start_ingest: Any, settings: Settings, db: Database, accounts: list[Account]
    ) -> None:
        proxy = Proxy(free_port())
        ingest: Ingest = await start_ingest(through(settings, proxy.port))
        payload = p.webhook(p.value(accounts[0].phone_number_id, messages=[p.text("retry me")]))
        assert await ingest.post(payload) == 503
        assert ingest.metric("relay_webhooks_total", outcome="broker_down") == 1
        await proxy.start()
        try:
            await until_ready(ingest)
            assert await ingest.post(payload) == 200  # Meta's retry
            assert await ingest.post(payload) == 200  # and one more, as Meta may do
            await ingest.until_events("message", "duplicate", 1)
            assert await db.messages.count_documents({}) == 1
            contact = await db.contacts.find_one({})
            assert contact is not None and contact["totalMessages"] == 1
        finally:
            await proxy.stop()

    async def test_connection_lost_then_back(
        self, start_ingest: Any, settings: Settings, db: Database, accounts: list[Account]
    ) -> None:
        proxy = Proxy(free_port())
        await proxy.start()
        ingest: Ingest = await start_ingest(through(settings, proxy.port))
        await until_ready(ingest)
        pnid = accounts[0].phone_number_id
        assert await ingest.post(p.webhook(p.value(pnid, messages=[p.text("before")]))) == 200
        await ingest.until_events("message", "applied", 1)
        await proxy.stop()
        during = p.webhook(p.value(pnid, messages=[p.text("during")]))
        await until_status(ingest, 503, during)
        await proxy.start()
        try:
            await until_status(ingest, 200, during)
            await ingest.until_events("message", "applied", 2)
            contents = sorted(d["content"] for d in await db.messages.find({}).to_list())
            assert contents == ["before", "during"]
        finally:
            await proxy.stop()
