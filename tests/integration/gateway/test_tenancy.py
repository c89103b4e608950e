"""Tenant isolation: user B gets 404 for each of user A's ids, on every route, and changes
nothing."""

from __future__ import annotations

import pytest

from shared.db import Database
from tests.integration.gateway import factories
from tests.integration.gateway.conftest import Client

pytestmark = pytest.mark.integration


@pytest.fixture
async def alices(api: Client, db: Database) -> dict[str, str]:
    """Ids of alice's message (outbound and inbound), failed message, contact and account."""
    t = api.tenant
    _, sent = await api.send()
    inbound = await factories.inbound(db, user_id=t.user_id, account_id=t.account_id)
    failed = await factories.message(db, user_id=t.user_id, account_id=t.account_id,
                                     status="Failed")
    return {"message": sent["data"]["id"], "inbound": inbound["_id"],
            "failed": failed["_id"], "contact": sent["data"]["contactId"],
            "account": t.account_id}


async def snapshot(db: Database) -> list[dict]:
    """What a request could change (the outbox's own bookkeeping left out)."""
    fields = {"status": 1, "version": 1, "readAt": 1, "attempts": 1, "userId": 1}
    return await db.messages.find({}, fields, sort=[("_id", 1)]).to_list()


class TestIsolation:
    """Every owned route answers 404 to another user; lists never show A's data to B."""

    @pytest.mark.parametrize(("method", "path"), [
        ("GET", "/messages/{message}"), ("PUT", "/messages/{inbound}/read"),
        ("POST", "/messages/{failed}/retry"), ("DELETE", "/messages/{message}"),
        ("GET", "/contacts/{contact}"), ("GET", "/whatsapp-accounts/{account}"),
        ("PATCH", "/whatsapp-accounts/{account}"),
    ])
    async def test_other_users_ids_are_404(self, api_b: Client, alices: dict[str, str],
                                           db: Database, method: str, path: str) -> None:
        before = await snapshot(db)
        kwargs = {"json": {"name": "stolen"}} if method == "PATCH" else {}
        status, body = await api_b.call(method, path.format(**alices), **kwargs)
        assert status == 404 and body["code"] == "NOT_FOUND"
        assert await snapshot(db) == before
        assert (await db.accounts.find_one({"_id": alices["account"]}))["name"] == "Shop"

    async def test_sending_through_another_users_account_is_404(
        self, api_b: Client, alices: dict[str, str], db: Database
    ) -> None:
        status, _ = await api_b.send(whatsappAccountId=alices["account"])
        assert status == 404
        assert await db.messages.count_documents({"userId": api_b.tenant.user_id}) == 0

    @pytest.mark.parametrize("path", ["/messages", "/contacts", "/whatsapp-accounts"])
    async def test_lists_show_only_own_data(self, api_b: Client, alices: dict[str, str],
                                            path: str) -> None:
        _, body = await api_b.call("GET", path)
        plural = {"/messages": "messages", "/contacts": "contacts",
                  "/whatsapp-accounts": "accounts"}[path]
        own = 1 if plural == "accounts" else 0
        assert body["data"]["total"] == own and len(body["data"][plural]) == own

    async def test_filtering_by_another_users_account_is_not_found(
        self, api_b: Client, alices: dict[str, str]
    ) -> None:
        status, body = await api_b.call("GET",
                                        f"/messages?whatsappAccountId={alices['account']}")
        assert status == 404 and body["code"] == "NOT_FOUND"  # as for any other id of hers
        assert alices["account"] not in str(body)
