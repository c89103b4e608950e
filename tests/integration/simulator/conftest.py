"""The simulator in-process on a free port, posting to a tiny receiver that stands in for ingest."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from relay.embedded import free_port
from shared.settings import Settings, load_settings
from simulator.app import create_app

SECRET = "sim-test-secret"


@dataclass
class Received:
    body: bytes
    signature: str | None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every webhook POST; answers ``status`` (200 unless a test changes it)."""

    status: int = 200
    posts: list[Received] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append(Received(await request.read(),
                                   request.headers.get("X-Hub-Signature-256")))
        return web.json_response({"ok": self.status == 200}, status=self.status)

    def statuses(self) -> list[dict[str, Any]]:
        found = []
        for post in self.posts:
            for entry in post.json().get("entry", []):
                for change in entry["changes"]:
                    found.extend(change["value"].get("statuses", []))
        return found


@dataclass
class Sim:
    base: str
    settings: Settings
    receiver: Receiver
    http: aiohttp.ClientSession

    def api(self, *parts: str) -> str:
        return "/".join([self.base, self.settings.whatsapp_api_version, *parts])

    async def send(self, payload: dict[str, Any], *, token: str = "good-token",
                   phone_number_id: str = "106540352242922") -> aiohttp.ClientResponse:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", **payload}
        return await self.http.post(self.api(phone_number_id, "messages"), json=body,
                                    headers={"Authorization": f"Bearer {token}"})

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, f"{self.base}/_sim/{path}", json=body) as response:
            assert response.status == 200, await response.text()
            return await response.json()


async def _start(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    """A running simulator whose webhooks reach a :class:`Receiver`."""
    receiver = Receiver()
    receiver_app = web.Application()
    receiver_app.router.add_post("/webhooks/whatsapp", receiver.handle)
    receiver_port, sim_port = free_port(), free_port()
    settings = load_settings(
        sim_port=sim_port, whatsapp_app_secret=SECRET, sim_status_delay_seconds=0.02,
        sim_webhook_url=f"http://127.0.0.1:{receiver_port}/webhooks/whatsapp",
    )
    runners = [await _start(receiver_app, receiver_port),
               await _start(create_app(settings), sim_port)]
    async with aiohttp.ClientSession() as http:
        yield Sim(f"http://127.0.0.1:{sim_port}", settings, receiver, http)
    for runner in reversed(runners):
        await runner.cleanup()
