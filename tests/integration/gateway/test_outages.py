"""Dependencies down: a broker outage still accepts (the sweep publishes later); a database
outage answers 503 SERVICE_UNAVAILABLE, never a 500."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway import keys
from gateway.app import create_app
from relay import embedded
from shared.db import Database
from tests.integration.gateway.conftest import API, Client, Tenant

pytestmark = pytest.mark.integration


class TestBrokerDown:
    """The message is stored and accepted, left undispatched for the outbox sweep."""

    async def test_send_is_accepted_and_left_for_the_sweep(self, api: Client,
                                                           db: Database) -> None:
        await api.http.server.app[keys.BROKER].close()
        status, body = await api.send()
        assert status == 202, body
        stored = await db.messages.find_one({"_id": body["data"]["id"]})
        assert stored["status"] == "Queued" and stored["dispatched"] is False


class TestDatabaseDown:
    """Every route answers 503 in the envelope while the database is unreachable."""

    async def test_503(self, settings, alice: Tenant, sim) -> None:
        away = settings.model_copy(update={
            "mongodb_url": f"mongodb://127.0.0.1:{embedded.free_port()}/"})
        async with TestClient(TestServer(create_app(away, intake=False))) as http:
            async with http.get(API + "/messages", headers=alice.auth) as response:
                body = await response.json()
            assert response.status == 503 and body["code"] == "SERVICE_UNAVAILABLE"
            async with http.get("/health/ready") as response:
                assert response.status == 503
