"""Authentication, scopes, the error envelope for routing errors, body limits, rate limits."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from relay import admin
from shared.db import Database
from tests.integration.gateway.conftest import API, Client, Tenant

pytestmark = pytest.mark.integration

ROUTES = [
    ("POST", "/messages", "messages:write"), ("GET", "/messages", "messages:read"),
    ("GET", "/messages/x", "messages:read"), ("PUT", "/messages/x/read", "messages:write"),
    ("POST", "/messages/x/retry", "messages:write"), ("DELETE", "/messages/x", "messages:write"),
    ("POST", "/whatsapp-accounts", "accounts:write"),
    ("GET", "/whatsapp-accounts", "accounts:read"),
    ("GET", "/whatsapp-accounts/x", "accounts:read"),
    ("PATCH", "/whatsapp-accounts/x", "accounts:write"),
    ("GET", "/contacts", "messages:read"), ("GET", "/contacts/x", "messages:read"),
    ("GET", "/whatsapp-accounts/x/templates", "templates:read"),
    ("POST", "/whatsapp-accounts/x/templates/sync", "templates:write"),
    ("POST", "/whatsapp-accounts/x/templates", "templates:write"),
]


class TestAuthentication:
    """Missing, malformed or unknown keys are 401; a key without the scope is 403."""

    @pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
    async def test_missing_key(self, http: TestClient, method: str, path: str,
                               scope: str) -> None:
        async with http.request(method, API + path) as r:
            body = await r.json()
        assert r.status == 401 and body["code"] == "UNAUTHORIZED" and body["success"] is False

    @pytest.mark.parametrize("header", ["Bearer rk_unknown", "Basic abc", "Bearer ", "rk_x"])
    async def test_bad_header(self, http: TestClient, header: str) -> None:
        async with http.get(API + "/messages", headers={"Authorization": header}) as r:
            assert r.status == 401

    @pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
    async def test_scope(self, http: TestClient, db: Database, alice: Tenant, method: str,
                         path: str, scope: str) -> None:
        others = [s for s in admin.SCOPES if s != scope]
        limited = await admin.create_key(db, alice.user_id, others)
        async with http.request(method, API + path, json={},
                                headers={"Authorization": f"Bearer {limited['apiKey']}"}) as r:
            body = await r.json()
        assert r.status == 403 and body["code"] == "FORBIDDEN"
        assert scope in body["message"]

    async def test_asyncapi_needs_no_key(self, http: TestClient) -> None:
        async with http.get(API + "/asyncapi.json") as r:
            assert r.status == 200


class TestEnvelope:
    """Routing errors and oversized bodies answer in the contract's envelope."""

    async def test_unknown_route_is_404(self, api: Client) -> None:
        status, body = await api.call("GET", "/nothing-here")
        assert status == 404 and body["code"] == "NOT_FOUND" and body["details"] == []

    async def test_unknown_route_outside_the_api(self, http: TestClient) -> None:
        async with http.get("/nope") as r:
            body = await r.json()
        assert r.status == 404 and body["success"] is False

    async def test_wrong_method_is_405(self, api: Client) -> None:
        status, body = await api.call("PATCH", "/messages")
        assert status == 405 and body["success"] is False and body["message"]

    async def test_json_over_the_json_cap_is_413(self, api: Client) -> None:
        status, body = await api.send(content="x" * (300 * 1024))
        assert status == 413 and body["code"] == "PAYLOAD_TOO_LARGE"

    async def test_large_body_is_413(self, api: Client) -> None:
        status, body = await api.call("PATCH", f"/whatsapp-accounts/{api.tenant.account_id}",
                                      data=b"x" * (12 * 2**20))
        assert status == 413 and body["code"] == "PAYLOAD_TOO_LARGE"


class TestRateLimit:
    """A key over its rate gets 429 with Retry-After; other keys are unaffected."""

    async def test_burst_then_429(self, settings, db: Database, alice: Tenant,
                                  bob: Tenant, sim) -> None:
        tight = settings.model_copy(update={"api_rate_per_second": 0.5, "api_rate_burst": 3})
        async with TestClient(TestServer(create_app(tight, db=db, intake=False))) as http:
            codes = []
            for _ in range(5):
                async with http.get(API + "/contacts", headers=alice.auth) as r:
                    codes.append(r.status)
                    retry_after = r.headers.get("Retry-After")
                    body = await r.json()
            assert codes == [200, 200, 200, 429, 429]
            assert int(retry_after) >= 1 and body["code"] == "RATE_LIMITED"
            async with http.get(API + "/contacts", headers=bob.auth) as r:
                assert r.status == 200
