"""SSRF: a ``mediaUrl`` aimed inside the network is never fetched (the gateway fetches it at
accept through the sender's guard, and refuses it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from relay.embedded import free_port
from shared.settings import Settings
from tests.harness import Stack
from tests.security.conftest import Tenant, client

pytestmark = pytest.mark.e2e


class Listener:
    """A local TCP port that counts the connections it gets (a fetch would be one)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.connections = 0

    async def __aenter__(self) -> Listener:
        async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self._server = await asyncio.start_server(accept, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    async with Listener() as running:
        yield running


class TestMediaUrlSsrf:
    """Loopback (in every spelling), private, link-local and cloud-metadata addresses are
    refused at accept with a readable reason: nothing connects to the address, no message is
    stored, and nothing reaches the Cloud API."""

    async def test_internal_media_urls_are_refused(
        self, stack: Stack, settings: Settings, alice: Tenant, listener: Listener,
        http: aiohttp.ClientSession,
    ) -> None:
        for name in ("sim", "gateway", "sender"):
            await asyncio.to_thread(stack.start, name)
        api = client(http, settings, alice)
        port = listener.port
        urls = [f"https://127.0.0.1:{port}/a.png", f"https://localhost:{port}/a.png",
                f"https://[::ffff:127.0.0.1]:{port}/a.png", f"https://[::1]:{port}/a.png",
                f"https://2130706433:{port}/a.png", f"https://127.1:{port}/a.png",
                "https://169.254.169.254/latest/meta-data/", "https://10.1.2.3/a.png",
                "https://192.168.0.1/a.png", "https://[fd00:ec2::254]/latest/"]
        for url in urls:
            status, body = await api.call("POST", "/messages", json={
                "whatsappAccountId": alice.account_id, "to": "+15551234567", "type": "Image",
                "mediaUrl": url})
            # Fetched at accept through the SSRF guard: refused there, with the reason.
            assert status == 400 and body["code"] == "VALIDATION_ERROR", (url, status, body)
            reason = body["message"]
            assert "refused" in reason or "resolve" in reason, (url, reason)
        _, listed = await api.call("GET", "/messages")
        assert listed["data"]["total"] == 0
        assert listener.connections == 0
        async with http.get(f"http://127.0.0.1:{settings.sim_port}/_sim/sends") as response:
            assert (await response.json())["sends"] == []
