"""The tenant-isolation matrix: user B's key against each of user A's resources, on every route
and verb of the contract."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest

from gateway.handlers import ROUTES
from shared.db import Database
from shared.models import utcnow
from shared.settings import Settings
from tests.harness import Api, Stack
from tests.media_samples import png
from tests.security.conftest import Tenant, client

pytestmark = pytest.mark.e2e

COLLECTIONS = ("messages", "accounts", "contacts", "media", "daily_usage", "idempotency",
               "templates")


async def seed_alice(db: Database, api: Api, alice: Tenant) -> dict[str, str]:
    """A's contact, an inbound message, a Failed and a Queued outbound one, and a media file."""
    now = utcnow()
    contact = {"_id": str(uuid.uuid4()), "userId": alice.user_id,
               "whatsappAccountId": alice.account_id, "phone": "+15550001111", "name": "Ann",
               "unreadCount": 1, "totalMessages": 3, "lastMessageAt": now, "createdAt": now,
               "updatedAt": now}
    await db.contacts.insert_one(contact)
    ids = {"contact": contact["_id"]}
    for name, direction, status in (("inbound", "Inbound", "Delivered"),
                                    ("failed", "Outbound", "Failed"),
                                    ("queued", "Outbound", "Queued")):
        ids[name] = str(uuid.uuid4())
        await db.messages.insert_one({
            "_id": ids[name], "userId": alice.user_id, "whatsappAccountId": alice.account_id,
            "contactId": contact["_id"], "direction": direction, "type": "Text",
            "content": f"alice {name}", "status": status, "version": 1, "attempts": 0,
            "whatsappMessageId": f"wamid.alice-{name}", "errorMessage": "x" if status == "Failed"
            else None, "createdAt": now, "updatedAt": now, "statusChangedAt": now,
            **({"from": "+15550001111"} if direction == "Inbound" else {"to": "+15550001111"}),
        })
    form = aiohttp.FormData()
    form.add_field("file", png(), filename="a.png", content_type="image/png")
    status, body = await api.call("POST", "/media", data=form)
    assert status == 201, body
    ids["media"] = body["data"]["id"]
    return ids


async def snapshot(db: Database) -> dict[str, list[dict[str, Any]]]:
    return {name: await db[name].find({}, sort=[("_id", 1)]).to_list(None)
            for name in COLLECTIONS}


def attacks(a: Tenant, ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, request kwargs) — every per-resource route, aimed at A's resources."""
    send = {"whatsappAccountId": a.account_id, "to": "+15550002222", "type": "Text",
            "content": "from b"}
    return [
        ("POST", "/messages", {"json": send}),
        ("GET", f"/messages/{ids['inbound']}", {}),
        ("PUT", f"/messages/{ids['inbound']}/read", {}),
        ("POST", f"/messages/{ids['failed']}/retry", {}),
        ("DELETE", f"/messages/{ids['queued']}", {}),
        ("GET", f"/whatsapp-accounts/{a.account_id}", {}),
        ("PATCH", f"/whatsapp-accounts/{a.account_id}", {"json": {"name": "pwned",
                                                                   "dailyLimit": 0}}),
        ("GET", f"/contacts/{ids['contact']}", {}),
        ("GET", f"/media/{ids['media']}", {}),
        ("GET", f"/messages/statistics?whatsappAccountId={a.account_id}", {}),
        ("GET", f"/messages/statistics/daily?whatsappAccountId={a.account_id}", {}),
        # A's account as a list filter: 404 like the statistics, never an empty 200.
        ("GET", f"/messages?whatsappAccountId={a.account_id}", {}),
        ("GET", f"/messages/export?whatsappAccountId={a.account_id}", {}),
        ("GET", f"/contacts?whatsappAccountId={a.account_id}", {}),
        ("GET", f"/whatsapp-accounts/{a.account_id}/templates", {}),
        ("POST", f"/whatsapp-accounts/{a.account_id}/templates/sync", {}),
        ("POST", f"/whatsapp-accounts/{a.account_id}/templates", {"json": {
            "name": "pwned", "language": "en_US", "category": "UTILITY",
            "components": [{"type": "BODY", "text": "x"}]}}),
    ]


def lists(a: Tenant, ids: dict[str, str]) -> list[tuple[str, str]]:
    """(path, plural) — every list, plain and filtered on A's contact (A's account as a
    filter is in :func:`attacks`: 404)."""
    return [
        ("/messages", "messages"), (f"/messages?contactId={ids['contact']}", "messages"),
        ("/whatsapp-accounts", "accounts"), ("/contacts", "contacts"),
    ]


class TestTenantIsolation:
    """B's key on any of A's resources answers 404 (never 403), B's lists never show A's items,
    and none of B's writes changes anything of A's."""

    async def test_matrix(self, stack: Stack, settings: Settings, db: Database, alice: Tenant,
                          bob: Tenant, http: aiohttp.ClientSession) -> None:
        await asyncio.to_thread(stack.start, "sim")
        await asyncio.to_thread(stack.start, "gateway")
        ids = await seed_alice(db, client(http, settings, alice), alice)
        as_bob = client(http, settings, bob)
        before = await snapshot(db)

        for method, path, kwargs in attacks(alice, ids):
            status, body = await as_bob.call(method, path, **kwargs)
            assert status == 404, (method, path, status, body)
            assert body["code"] == "NOT_FOUND", (method, path, body)
        for path, plural in lists(alice, ids):
            status, body = await as_bob.call("GET", path)
            assert status == 200, (path, body)
            items = body["data"][plural]
            assert all(item["userId"] == bob.user_id for item in items), (path, items)
            assert not {item["id"] for item in items} & {alice.account_id, *ids.values()}
        for path in ("/messages/statistics", "/messages/statistics/daily"):
            status, body = await as_bob.call("GET", path)
            assert status == 200, body
        assert body["data"], "the daily statistics answered nothing"

        assert await snapshot(db) == before, "one of B's requests changed A's data"

    def test_matrix_covers_every_route(self) -> None:
        """A route added to the gateway must be added to the matrix (or listed as not
        tenant-scoped)."""
        alice = Tenant("u", "k", "acc", "p", "t")
        ids = {k: f"id-{k}" for k in ("inbound", "failed", "queued", "contact", "media")}
        covered = {(m, _template(p)) for m, p, _ in attacks(alice, ids)}
        covered |= {("GET", _template(p)) for p, _ in lists(alice, ids)}
        not_scoped = {("POST", "/whatsapp-accounts"), ("POST", "/media"),
                      ("GET", "/queues/metrics"), ("GET", "/openapi.json"), ("GET", "/docs"),
                      ("GET", "/asyncapi.json"),
                      ("GET", "/messages/statistics")}
        routes = {(m, p.removeprefix("/api/v1")) for m, p, _ in ROUTES}
        missing = routes - covered - not_scoped
        assert not missing, f"routes missing from the tenant matrix: {sorted(missing)}"


def _template(path: str) -> str:
    known = {"id-inbound", "id-failed", "id-queued", "id-contact", "id-media", "acc"}
    return "/".join("{id}" if part in known else part for part in path.split("?")[0].split("/"))
