"""GET /messages (filters, pagination), GET /messages/:id, mark read, retry and cancel."""

from __future__ import annotations

import pytest

from shared import topology
from shared.broker import Broker
from shared.db import Database
from tests.conftest import eventually
from tests.integration.gateway import factories
from tests.integration.gateway.conftest import Client

pytestmark = pytest.mark.integration


@pytest.fixture
async def sample(api: Client, db: Database) -> list[dict]:
    """Six messages of alice's, one day apart, of varied kinds (newest last)."""
    t = api.tenant
    kinds = [
        {"status": "Sent", "type": "Text", "contactId": "c1"},
        {"status": "Delivered", "type": "Image", "contactId": "c1"},
        {"status": "Read", "type": "Text", "contactId": "c2", "direction": "Inbound"},
        {"status": "Failed", "type": "Video", "contactId": "c2"},
        {"status": "Queued", "type": "Text", "contactId": "c3", "whatsappAccountId": "other"},
        {"status": "Queued", "type": "Audio", "contactId": "c3"},
    ]
    docs = []
    for age, fields in zip(range(6, 0, -1), kinds, strict=True):
        account = fields.pop("whatsappAccountId", t.account_id)
        docs.append(await factories.message(db, user_id=t.user_id, account_id=account,
                                            createdAt=factories.ago(days=age), **fields))
    return docs


def ids(body: dict) -> list[str]:
    return [m["id"] for m in body["data"]["messages"]]


class TestList:
    """Newest first, filtered by every seed filter, paginated with totals."""

    async def test_newest_first_with_totals(self, api: Client, sample: list[dict]) -> None:
        status, body = await api.call("GET", "/messages")
        assert status == 200
        assert ids(body) == [d["_id"] for d in reversed(sample)]
        assert body["data"] | {"messages": None} == {
            "messages": None, "total": 6, "page": 1, "limit": 50, "totalPages": 1,
            "nextCursor": None}

    @pytest.mark.parametrize(("query", "expected"), [
        ("status=Queued", [5, 4]),
        ("type=Text", [4, 2, 0]),
        ("direction=Inbound", [2]),
        ("direction=Outbound", [5, 4, 3, 1, 0]),
        ("contactId=c2", [3, 2]),
        ("status=Queued&type=Audio", [5]),
    ])
    async def test_filters(self, api: Client, sample: list[dict], query: str,
                           expected: list[int]) -> None:
        status, body = await api.call("GET", f"/messages?{query}")
        assert status == 200, body
        assert ids(body) == [sample[i]["_id"] for i in expected]
        assert body["data"]["total"] == len(expected)

    @pytest.mark.parametrize(("query", "counter", "projected"), [
        ("", "total", 25_000),
        ("status=Failed", "byStatus", 12_000),
        ("direction=Inbound&whatsappAccountId={account}", "byDirection", 10_000),
    ])
    async def test_a_large_total_comes_from_the_stats_projection(
        self, api: Client, db: Database, sample: list[dict], query: str, counter: str,
        projected: int,
    ) -> None:
        """At 10,000 matches and more, counting costs O(matches); the projection answers."""
        value = projected if counter == "total" else {"Failed": projected,
                                                      "Inbound": projected}
        await db.stats_accounts.insert_one({"_id": api.tenant.account_id,
                                            "userId": api.tenant.user_id, counter: value})
        _, body = await api.call("GET", "/messages?" + query.format(account=api.tenant.account_id))
        assert (body["data"]["total"], body["data"]["totalPages"]) == (
            projected, -(-projected // 50))
        assert len(body["data"]["messages"]) <= 6  # the page itself is read from messages

    async def test_a_small_projected_total_is_counted_exactly(
        self, api: Client, db: Database, sample: list[dict]
    ) -> None:
        await db.stats_accounts.insert_one({"_id": api.tenant.account_id,
                                            "userId": api.tenant.user_id, "total": 9_999})
        _, body = await api.call("GET", "/messages")
        assert body["data"]["total"] == 6

    async def test_account_filter(self, api: Client, sample: list[dict]) -> None:
        _, body = await api.call("GET", f"/messages?whatsappAccountId={api.tenant.account_id}")
        assert ids(body) == [sample[i]["_id"] for i in (5, 3, 2, 1, 0)]

    async def test_date_range(self, api: Client, sample: list[dict]) -> None:
        start = factories.ago(days=4, hours=12).isoformat()
        end = factories.ago(days=2, hours=12).isoformat()
        status, body = await api.call("GET", "/messages",
                                      params={"startDate": start, "endDate": end})
        assert status == 200, body
        assert ids(body) == [sample[i]["_id"] for i in (3, 2)]

    async def test_pages(self, api: Client, sample: list[dict]) -> None:
        _, first = await api.call("GET", "/messages?limit=4&page=1")
        _, second = await api.call("GET", "/messages?limit=4&page=2")
        assert len(first["data"]["messages"]) == 4 and len(second["data"]["messages"]) == 2
        assert first["data"]["totalPages"] == 2
        assert set(ids(first)).isdisjoint(ids(second))

    async def test_page_beyond_the_end_is_empty_with_the_total(self, api: Client,
                                                                sample: list[dict]) -> None:
        status, body = await api.call("GET", "/messages?page=9&limit=5")
        assert status == 200
        assert body["data"]["messages"] == [] and body["data"]["total"] == 6
        assert body["data"]["totalPages"] == 2

    @pytest.mark.parametrize("query", [
        "limit=0", "limit=101", "page=0", "page=-1", "limit=abc", "status=Lost",
        "type=Sticker", "direction=Sideways", "startDate=yesterday",
        "startDate=2025-11-06T00:00:00Z&endDate=2025-11-05T00:00:00Z", "color=red",
        "limit=5&limit=6",
    ])
    async def test_bad_parameters_are_400(self, api: Client, query: str) -> None:
        status, body = await api.call("GET", f"/messages?{query}")
        assert status == 400, body
        assert body["code"] == "VALIDATION_ERROR" and body["message"]

    @pytest.mark.parametrize("query", ["status[$ne]=x", "$where=1", "contactId[$gt]=",
                                       "status%5B%24ne%5D=Queued"])
    async def test_operator_injection_is_refused(self, api: Client, sample: list[dict],
                                                 query: str) -> None:
        status, body = await api.call("GET", f"/messages?{query}")
        assert status == 400 and body["code"] == "VALIDATION_ERROR"


class TestGet:
    """One message by id; unknown ids are 404."""

    async def test_get(self, api: Client, sample: list[dict]) -> None:
        status, body = await api.call("GET", f"/messages/{sample[0]['_id']}")
        assert status == 200 and body["data"]["id"] == sample[0]["_id"]
        assert "version" not in body["data"] and "dispatched" not in body["data"]

    async def test_unknown_is_404(self, api: Client) -> None:
        status, body = await api.call("GET", "/messages/nope")
        assert status == 404 and body["code"] == "NOT_FOUND"


class TestMarkRead:
    """Inbound only; the unread count drops once; a read receipt goes to the sender."""

    async def test_read_once_drops_unread_once(self, api: Client, db: Database,
                                               broker: Broker, settings) -> None:
        t = api.tenant
        doc = await factories.inbound(db, user_id=t.user_id, account_id=t.account_id, unread=2)
        for _ in range(3):
            status, body = await api.call("PUT", f"/messages/{doc['_id']}/read")
            assert status == 200, body
            assert body["data"]["status"] == "Read" and body["data"]["readAt"]
        contact = await db.contacts.find_one({"_id": doc["contactId"]})
        assert contact["unreadCount"] == 1
        stored = await db.messages.find_one({"_id": doc["_id"]})
        assert stored["version"] == 2 and stored["previousStatus"] == "Delivered"
        shard = topology.shard_queue(topology.shard_of(t.account_id, settings.send_shards))
        await eventually(lambda: broker.queue_depth(shard), message="read receipt command")
        assert await broker.queue_depth(shard) == 1
        await eventually(lambda: db.events.find_one({"_id": f"{doc['_id']}:2",
                                                     "type": "message.read"}))

    async def test_unread_count_never_below_zero(self, api: Client, db: Database) -> None:
        t = api.tenant
        doc = await factories.inbound(db, user_id=t.user_id, account_id=t.account_id, unread=0)
        status, _ = await api.call("PUT", f"/messages/{doc['_id']}/read")
        assert status == 200
        assert (await db.contacts.find_one({"_id": doc["contactId"]}))["unreadCount"] == 0

    async def test_outbound_is_409(self, api: Client, sample: list[dict]) -> None:
        status, body = await api.call("PUT", f"/messages/{sample[1]['_id']}/read")
        assert status == 409 and body["code"] == "CONFLICT"

    async def test_unknown_is_404(self, api: Client) -> None:
        status, _ = await api.call("PUT", "/messages/nope/read")
        assert status == 404


class TestRetry:
    """Only Failed messages go back to Queued, attempts reset, the command republished."""

    async def test_failed_is_requeued(self, api: Client, db: Database, broker: Broker,
                                      settings) -> None:
        t = api.tenant
        doc = await factories.message(db, user_id=t.user_id, account_id=t.account_id,
                                      status="Failed", errorMessage="(131026) undeliverable",
                                      attempts=3, version=3, previousStatus="Queued")
        status, body = await api.call("POST", f"/messages/{doc['_id']}/retry")
        assert status == 202, body
        assert body["data"]["status"] == "Queued" and body["data"]["attempts"] == 0
        assert body["data"]["errorMessage"] is None
        shard = topology.shard_queue(topology.shard_of(t.account_id, settings.send_shards))
        await eventually(lambda: broker.queue_depth(shard), message="send command republished")
        await eventually(lambda: db.messages.find_one({"_id": doc["_id"], "dispatched": True,
                                                       "version": 4}))

    @pytest.mark.parametrize("state", ["Queued", "Sent", "Delivered", "Read", "Cancelled"])
    async def test_not_failed_is_409(self, api: Client, db: Database, state: str) -> None:
        t = api.tenant
        doc = await factories.message(db, user_id=t.user_id, account_id=t.account_id,
                                      status=state)
        status, body = await api.call("POST", f"/messages/{doc['_id']}/retry")
        assert status == 409 and body["code"] == "CONFLICT"


class TestCancel:
    """DELETE cancels a Queued message; anything else is 409."""

    async def test_queued_is_cancelled(self, api: Client, db: Database) -> None:
        _, sent = await api.send()
        status, body = await api.call("DELETE", f"/messages/{sent['data']['id']}")
        assert status == 200, body
        assert body["data"]["status"] == "Cancelled"
        assert body["data"]["errorMessage"] == "Cancelled"
        await eventually(lambda: db.events.find_one({"type": "message.cancelled"}))

    async def test_sent_is_409(self, api: Client, sample: list[dict]) -> None:
        status, _ = await api.call("DELETE", f"/messages/{sample[0]['_id']}")
        assert status == 409

    async def test_claimed_by_a_sender_is_409(self, api: Client, db: Database) -> None:
        t = api.tenant
        doc = await factories.message(db, user_id=t.user_id, account_id=t.account_id)
        # Written as a sender writes it: by an update ($set), a string on nx-27017.
        await db.messages.update_one({"_id": doc["_id"]}, {"$set": {
            "claimedBy": "sender-1", "claimedAt": factories.ago(seconds=1)}})
        status, body = await api.call("DELETE", f"/messages/{doc['_id']}")
        assert status == 409 and "being sent" in body["message"]
