"""The template registry through the real gateway, database, simulator and ingest: sync over
several pages, create → PENDING → APPROVED (or REJECTED on demand) by the simulator's signed
status webhook through ingest, validation, tenancy, scopes and the account's new fields."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ingest.app import create_app as create_ingest
from relay import admin
from shared.db import Database
from shared.secrets import TokenCipher
from shared.settings import Settings
from shared.template_store import MongoTemplateStore
from shared.templates import Template, TemplateStatus, template_id
from tests.conftest import eventually
from tests.integration.gateway.conftest import Client, Tenant, make_tenant

pytestmark = pytest.mark.integration

WABA = "102290129340398"
BODY = [{"type": "BODY", "text": "Hello {{1}}", "example": {"body_text": [["Ada"]]}}]


def new_template(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "language": "en_US", "category": "UTILITY", "components": BODY,
            **extra}


@pytest.fixture
async def shop(db: Database, settings: Settings) -> Tenant:
    """A tenant whose account has a WABA id."""
    return await make_tenant(db, settings, waba_id=WABA)


@pytest.fixture
def api_shop(http: TestClient, shop: Tenant) -> Client:
    return Client(http, shop)


@pytest.fixture
async def ingest(settings: Settings, sim: TestClient) -> AsyncIterator[None]:
    """Ingest (with its worker) on the port the simulator posts webhooks to."""
    runner = web.AppRunner(create_ingest(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.ingest_port).start()
    async with aiohttp.ClientSession() as session:
        async def ready() -> bool:
            url = f"http://127.0.0.1:{settings.ingest_port}/health/ready"
            async with session.get(url) as response:
                return response.status == 200

        await eventually(ready, timeout=20, message="ingest ready")
    yield
    await runner.cleanup()


async def seed(sim: TestClient, *templates: dict[str, Any]) -> None:
    async with sim.post("/_sim/templates", json={"wabaId": WABA,
                                                 "templates": list(templates)}) as r:
        assert r.status == 200, await r.text()


async def listed(api: Client, **query: Any) -> dict[str, Any]:
    status, body = await api.call("GET", f"/whatsapp-accounts/{api.tenant.account_id}/templates",
                                  params=query)
    assert status == 200, body
    data: dict[str, Any] = body["data"]
    return data


async def status_of(api: Client, name: str) -> dict[str, Any] | None:
    found = [t for t in (await listed(api))["templates"] if t["name"] == name]
    return found[0] if found else None


async def reaches(api: Client, name: str, status: str) -> dict[str, Any]:
    async def moved() -> dict[str, Any] | None:
        got = await status_of(api, name)
        return got if got is not None and got["status"] == status else None

    found: dict[str, Any] = await eventually(moved, timeout=20, message=f"{name} {status}")
    return found


class TestSync:
    """Every page of Meta's list is read; the answer counts what changed."""

    async def test_sync_over_two_pages_then_counts_changes(
        self, api_shop: Client, sim: TestClient, db: Database, shop: Tenant
    ) -> None:
        # The client asks for 100 a page: 130 templates need two pages.
        await seed(sim, *[new_template(f"t_{n:03}") for n in range(130)])
        path = f"/whatsapp-accounts/{shop.account_id}/templates/sync"
        status, body = await api_shop.call("POST", path)
        assert status == 200, body
        assert body["data"] == {"added": 130, "updated": 0, "removed": 0}
        page = await listed(api_shop, page=2, limit=100)
        assert (page["total"], page["totalPages"], len(page["templates"])) == (130, 2, 30)
        first = page["templates"][0]
        assert first["name"] == "t_100" and first["status"] == "APPROVED"
        assert set(first) == {"id", "name", "language", "category", "status", "components",
                              "rejectedReason", "updatedAt"}
        assert first["components"] == BODY

        await seed(sim, new_template("t_000", status="PAUSED"),
                   new_template("t_001", status="DISABLED"), new_template("brand_new"))
        await MongoTemplateStore(db).add(Template(
            _id=template_id(shop.account_id, "stale", "en_US"),
            whatsapp_account_id=shop.account_id, user_id=shop.user_id, waba_id=WABA,
            name="stale", language="en_US", status=TemplateStatus.APPROVED))
        status, body = await api_shop.call("POST", path)
        assert body["data"] == {"added": 1, "updated": 2, "removed": 1}
        assert (await status_of(api_shop, "t_000") or {})["status"] == "PAUSED"
        assert await status_of(api_shop, "stale") is None
        assert (await listed(api_shop))["total"] == 131

    async def test_an_account_without_waba_id_is_told_to_set_it(
        self, api: Client, alice: Tenant
    ) -> None:
        status, body = await api.call("POST", f"/whatsapp-accounts/{alice.account_id}"
                                      "/templates/sync")
        assert status == 400 and body["code"] == "VALIDATION_ERROR"
        assert "wabaId" in body["message"] and "PATCH" in body["message"]
        status, body = await api.call("PATCH", f"/whatsapp-accounts/{alice.account_id}",
                                      json={"wabaId": WABA})
        assert status == 200 and body["data"]["wabaId"] == WABA
        status, body = await api.call("POST", f"/whatsapp-accounts/{alice.account_id}"
                                      "/templates/sync")
        assert status == 200, body


class TestCreate:
    """A created template is PENDING until the simulator's webhook, through ingest, moves it."""

    async def test_pending_then_approved_by_the_webhook(
        self, api_shop: Client, sim: TestClient, shop: Tenant, ingest: None
    ) -> None:
        status, body = await api_shop.call(
            "POST", f"/whatsapp-accounts/{shop.account_id}/templates",
            json=new_template("order_update", category="marketing"))
        assert status == 201, body
        made = body["data"]
        assert (made["status"], made["category"], made["rejectedReason"]) == (
            "PENDING", "MARKETING", None)
        assert made["id"] == template_id(shop.account_id, "order_update", "en_US")
        approved = await reaches(api_shop, "order_update", "APPROVED")
        assert approved["rejectedReason"] is None
        async with sim.get("/_sim/templates", params={"wabaId": WABA}) as r:
            [at_meta] = (await r.json())["templates"]
        assert at_meta["status"] == "APPROVED" and at_meta["components"] == BODY

    async def test_rejection_on_demand(
        self, api_shop: Client, sim: TestClient, shop: Tenant, ingest: None
    ) -> None:
        async with sim.post("/_sim/templates/reject",
                            json={"name": "promo", "reason": "TAG_CONTENT_MISMATCH"}) as r:
            assert r.status == 200
        status, body = await api_shop.call(
            "POST", f"/whatsapp-accounts/{shop.account_id}/templates", json=new_template("promo"))
        assert status == 201 and body["data"]["status"] == "PENDING"
        rejected = await reaches(api_shop, "promo", "REJECTED")
        assert rejected["rejectedReason"] == "TAG_CONTENT_MISMATCH"

    async def test_an_approved_template_rejected_later(
        self, api_shop: Client, sim: TestClient, shop: Tenant, ingest: None
    ) -> None:
        await seed(sim, new_template("welcome"))
        await api_shop.call("POST", f"/whatsapp-accounts/{shop.account_id}/templates/sync")
        async with sim.post("/_sim/templates/reject", json={"name": "welcome"}) as r:
            assert (await r.json())["rejectedNow"] == 1
        rejected = await reaches(api_shop, "welcome", "REJECTED")
        assert rejected["rejectedReason"] == "INVALID_FORMAT"

    @pytest.mark.parametrize(("change", "field"), [
        ({"name": "Hello"}, "name"), ({"name": "a" * 513}, "name"),
        ({"name": "with-dash"}, "name"), ({"category": "OTHER"}, "category"),
        ({"components": []}, "components"),
        ({"components": [{"type": "HEADER", "format": "TEXT", "text": "x"}]}, "components"),
        ({"language": ""}, "language"), ({"extra": 1}, "extra"),
        ({"components": [{"type": "BODY", "text": "x", "n": 2**70}]}, "components"),
        ({"components": [{"type": "BODY", "$where": "x"}]}, "components"),
        ({"components": [{"type": "BODY", "a\u0000b": "x"}]}, "components"),
    ])
    async def test_bad_input_names_the_field_and_stores_nothing(
        self, api_shop: Client, sim: TestClient, shop: Tenant, change: dict[str, Any],
        field: str,
    ) -> None:
        status, body = await api_shop.call(
            "POST", f"/whatsapp-accounts/{shop.account_id}/templates",
            json={**new_template("fine"), **change})
        assert status == 400 and body["code"] == "VALIDATION_ERROR", body
        assert body["details"][0]["field"] == field
        assert (await listed(api_shop))["total"] == 0
        async with sim.get("/_sim/templates", params={"wabaId": WABA}) as r:
            assert (await r.json())["templates"] == []

    async def test_missing_field(self, api_shop: Client, shop: Tenant) -> None:
        status, body = await api_shop.call(
            "POST", f"/whatsapp-accounts/{shop.account_id}/templates",
            json={"name": "x", "language": "en_US", "category": "UTILITY"})
        assert status == 400 and body["details"][0]["field"] == "components"

    async def test_without_waba_id(self, api: Client, alice: Tenant) -> None:
        status, body = await api.call("POST", f"/whatsapp-accounts/{alice.account_id}/templates",
                                      json=new_template("hello"))
        assert status == 400 and body["code"] == "VALIDATION_ERROR"
        assert "wabaId" in body["message"]

    async def test_twice_is_a_conflict(self, api_shop: Client, shop: Tenant) -> None:
        path = f"/whatsapp-accounts/{shop.account_id}/templates"
        assert (await api_shop.call("POST", path, json=new_template("hello")))[0] == 201
        status, body = await api_shop.call("POST", path, json=new_template("hello"))
        assert status == 409 and body["code"] == "CONFLICT"

    async def test_meta_refusing_is_a_clear_400_and_nothing_is_stored(
        self, api_shop: Client, sim: TestClient, shop: Tenant
    ) -> None:
        await seed(sim, new_template("exists_at_meta"))  # but not synced into Relay
        status, body = await api_shop.call(
            "POST", f"/whatsapp-accounts/{shop.account_id}/templates",
            json=new_template("exists_at_meta"))
        assert status == 400 and body["code"] == "WHATSAPP_API_ERROR", body
        assert "(100)" in body["message"]
        assert (await listed(api_shop))["total"] == 0

    async def test_a_refused_token(
        self, http: TestClient, db: Database, settings: Settings, sim: TestClient
    ) -> None:
        tenant = await make_tenant(db, settings, waba_id=WABA)
        await db.accounts.update_one({"_id": tenant.account_id}, {"$set": {
            "accessToken": TokenCipher(settings.secret_key).encrypt("bad-token")}})
        client = Client(http, tenant)
        status, body = await client.call(
            "POST", f"/whatsapp-accounts/{tenant.account_id}/templates",
            json=new_template("hello"))
        assert status == 400 and body["code"] == "WHATSAPP_ACCOUNT_NOT_CONNECTED", body
        assert (await listed(client))["total"] == 0


class TestTenancyAndScopes:
    """Another user's account is 404 on every template route; scopes are checked."""

    async def test_another_users_account_is_not_found(
        self, api_b: Client, shop: Tenant, sim: TestClient
    ) -> None:
        base = f"/whatsapp-accounts/{shop.account_id}/templates"
        for method, path, body in (("GET", base, None), ("POST", base + "/sync", None),
                                   ("POST", base, new_template("hello"))):
            status, answer = await api_b.call(method, path, json=body)
            assert status == 404 and answer["code"] == "NOT_FOUND", (method, path)
        async with sim.get("/_sim/templates", params={"wabaId": WABA}) as r:
            assert (await r.json())["templates"] == []

    @pytest.mark.parametrize(("method", "suffix", "scope"), [
        ("GET", "", "templates:read"), ("POST", "/sync", "templates:write"),
        ("POST", "", "templates:write"),
    ])
    async def test_scopes(
        self, http: TestClient, db: Database, shop: Tenant, method: str, suffix: str,
        scope: str,
    ) -> None:
        limited = await admin.create_key(db, shop.user_id,
                                         [s for s in admin.SCOPES if s != scope])
        client = Client(http, Tenant(shop.user_id, limited["apiKey"], shop.account_id))
        status, body = await client.call(
            method, f"/whatsapp-accounts/{shop.account_id}/templates{suffix}",
            json=new_template("hello") if method == "POST" else None)
        assert status == 403 and scope in body["message"]


class TestAccountFields:
    """``wabaId`` and ``enforceCustomerWindow`` on create, PATCH and every read."""

    async def test_create_patch_and_show(self, api: Client, sim: TestClient) -> None:
        status, body = await api.call("POST", "/whatsapp-accounts", json={
            "name": "Shop", "phoneNumberId": "555000111", "displayPhoneNumber": "+15550001111",
            "accessToken": "token-ok", "wabaId": WABA})
        assert status == 201, body
        created = body["data"]
        assert (created["wabaId"], created["enforceCustomerWindow"]) == (WABA, True)
        status, body = await api.call("PATCH", f"/whatsapp-accounts/{created['id']}",
                                      json={"enforceCustomerWindow": False})
        assert status == 200 and body["data"]["enforceCustomerWindow"] is False
        status, body = await api.call("GET", f"/whatsapp-accounts/{created['id']}")
        assert (body["data"]["wabaId"], body["data"]["enforceCustomerWindow"]) == (WABA, False)

    async def test_defaults_on_an_older_account(
        self, api: Client, alice: Tenant, db: Database
    ) -> None:
        await db.accounts.update_one({"_id": alice.account_id},
                                     {"$unset": {"enforceCustomerWindow": "", "wabaId": ""}})
        status, body = await api.call("GET", f"/whatsapp-accounts/{alice.account_id}")
        assert status == 200
        assert (body["data"]["wabaId"], body["data"]["enforceCustomerWindow"]) == (None, True)

    @pytest.mark.parametrize("change", [{"wabaId": "has space"}, {"wabaId": ""},
                                        {"enforceCustomerWindow": "sometimes"}])
    async def test_bad_values(self, api: Client, alice: Tenant, change: dict[str, Any]) -> None:
        status, body = await api.call("PATCH", f"/whatsapp-accounts/{alice.account_id}",
                                      json=change)
        assert status == 400 and body["details"][0]["field"] == next(iter(change))
