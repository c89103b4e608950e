"""Gateway fixtures: the app in process (real RabbitMQ vhost, embedded database), the simulator
in process on ``settings.sim_port``, and two tenants, each with a key and a connected account.

Creating a vhost costs seconds on a busy broker, so the tests of one module share one, and every
queue of the topology is purged before each test: no test sees another's messages.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from relay import admin
from shared import topology
from shared.broker import Broker
from shared.db import Database
from shared.secrets import TokenCipher
from shared.settings import Settings
from simulator.app import create_app as create_sim
from tests.conftest import TEST_CONNECT_SECONDS

API = "/api/v1"


@dataclass
class Tenant:
    """A user with an all-scope key and one connected account."""

    user_id: str
    key: str
    account_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


class Client:
    """Calls the gateway as one tenant; returns (status, JSON body)."""

    def __init__(self, http: TestClient, tenant: Tenant) -> None:
        self.http = http
        self.tenant = tenant

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {**self.tenant.auth, **kwargs.pop("headers", {})}
        async with self.http.request(method, API + path, headers=headers, **kwargs) as r:
            return r.status, await r.json(content_type=None)

    async def send(self, **fields: Any) -> tuple[int, Any]:
        body = {"whatsappAccountId": self.tenant.account_id, "to": "+15551234567",
                "type": "Text", "content": "hello", **fields}
        return await self.call("POST", "/messages", json=body)


@pytest.fixture(scope="module")
def amqp_url(vhost_pool: Any) -> Iterator[str]:
    """One vhost per test module (see the module docstring)."""
    url = vhost_pool.take()
    yield url
    vhost_pool.give_back(url)


@pytest.fixture(autouse=True)
async def empty_queues(settings: Settings) -> None:
    """Every queue of the topology, declared and empty."""
    broker = Broker(settings.amqp_url, shards=settings.send_shards)
    await broker.connect(timeout=TEST_CONNECT_SECONDS)
    try:
        channel = await broker.connection.channel()
        for name in topology.all_queues(settings.send_shards):
            queue = await channel.declare_queue(name, passive=True)
            await queue.purge()
    finally:
        await broker.close()


@pytest.fixture
async def sim(settings: Settings) -> AsyncIterator[TestClient]:
    """The Cloud API simulator on the port ``settings.cloud_api_url`` points at."""
    client = TestClient(TestServer(create_sim(settings), port=settings.sim_port))
    await client.start_server()
    await client.post("/_sim/config", json={"autoStatuses": False})
    yield client
    await client.close()


@pytest.fixture
async def http(settings: Settings, db: Database, sim: TestClient) -> AsyncIterator[TestClient]:
    """The gateway app (with its broker intake) behind a test server."""
    # The request-line limits of gateway/main.py (a long query string reaches the handler).
    server = TestServer(create_app(settings, db=db))
    await server.start_server(max_line_size=65536, max_field_size=65536)
    client = TestClient(server)
    await client.start_server()
    yield client
    await client.close()


async def make_tenant(db: Database, settings: Settings, **account: Any) -> Tenant:
    """A user and a connected account (``enforce_customer_window`` off unless given)."""
    account.setdefault("enforce_customer_window", False)
    user = await admin.create_user(db, f"user-{uuid.uuid4().hex[:6]}")
    doc = await admin.create_account(
        db, TokenCipher(settings.secret_key), user_id=user["userId"], name="Shop",
        phone_number_id=account.pop("phone_number_id", uuid.uuid4().hex[:12]),
        display_phone_number="+15550000001", access_token="token-ok", **account)
    return Tenant(user["userId"], user["apiKey"], doc["_id"])


@pytest.fixture
async def alice(db: Database, settings: Settings) -> Tenant:
    return await make_tenant(db, settings)


@pytest.fixture
async def bob(db: Database, settings: Settings) -> Tenant:
    return await make_tenant(db, settings)


@pytest.fixture
def api(http: TestClient, alice: Tenant) -> Client:
    return Client(http, alice)


@pytest.fixture
def api_b(http: TestClient, bob: Tenant) -> Client:
    return Client(http, bob)
