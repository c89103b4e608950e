"""GET /api/v1/messages/statistics[/daily]: reads of the stats projection, tenant-scoped."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from shared.db import Database
from shared.models import Direction, MessageStatus, MessageType, utcnow
from tests.integration.gateway.gateway_client import User

pytestmark = pytest.mark.integration

STATS = "/api/v1/messages/statistics"
DAILY = "/api/v1/messages/statistics/daily"


async def account(db: Database, user: User, **projection: Any) -> str:
    """An account of ``user`` with a ``stats_accounts`` document shaped as the stats service's."""
    account_id = str(uuid.uuid4())
    await db.accounts.insert_one({"_id": account_id, "userId": user.id, "name": "a",
                                  "phoneNumberId": uuid.uuid4().hex, "status": "Connected"})
    doc = {"_id": account_id, "userId": user.id, "total": 0, "byStatus": {}, "byDirection": {},
           "byType": {}, "outboundByStatus": {}, "days": {}, **projection}
    await db.stats_accounts.insert_one(doc)
    return account_id


async def get(client: TestClient, user: User, path: str, **params: str) -> tuple[int, Any]:
    response = await client.get(path, params=params, headers=user.headers())
    return response.status, await response.json()


class TestStatisticsShape:
    """Every enum value is present, zero when none; rates are 0 when their divisor is 0."""

    async def test_a_user_without_messages_gets_zeros_everywhere(
        self, client: TestClient, alice: User
    ) -> None:
        status, body = await get(client, alice, STATS)
        assert status == 200, body
        data = body["data"]
        assert data["total"] == 0
        assert data["byStatus"] == {s.value: 0 for s in MessageStatus}
        assert data["byDirection"] == {d.value: 0 for d in Direction}
        assert data["byType"] == {t.value: 0 for t in MessageType}
        assert data["deliveryRate"] == 0 and data["readRate"] == 0


class TestStatisticsFromProjection:
    """User-wide numbers are the sum over the user's accounts; the filter narrows to one."""

    async def test_sums_accounts_and_computes_rates_over_outbound(
        self, client: TestClient, db: Database, alice: User
    ) -> None:
        await account(db, alice, total=10, byStatus={"Sent": 2, "Delivered": 5, "Read": 3},
                      byDirection={"Outbound": 8, "Inbound": 2}, byType={"Text": 9, "Image": 1},
                      outboundByStatus={"Sent": 2, "Delivered": 3, "Read": 3})
        await account(db, alice, total=4, byStatus={"Read": 1, "Failed": 3},
                      byDirection={"Outbound": 4}, byType={"Document": 4},
                      outboundByStatus={"Read": 1, "Failed": 3})
        status, body = await get(client, alice, STATS)
        assert status == 200, body
        data = body["data"]
        assert data["total"] == 14
        assert data["byStatus"] == {"Queued": 0, "Sent": 2, "Delivered": 5, "Read": 4,
                                    "Failed": 3, "Cancelled": 0}
        assert data["byDirection"] == {"Inbound": 2, "Outbound": 12}
        assert data["byType"] == {"Text": 9, "Image": 1, "Video": 0, "Audio": 0, "Document": 4,
                                  "Template": 0, "Interactive": 0, "Location": 0,
                                  "Reaction": 0, "Unsupported": 0}
        # outbound: Sent 2, Delivered 3, Read 4 → (3 + 4) / 9 and 4 / 7
        assert data["deliveryRate"] == pytest.approx(7 / 9, abs=1e-6)
        assert data["readRate"] == pytest.approx(4 / 7, abs=1e-6)

    async def test_account_filter_gives_that_account_only(
        self, client: TestClient, db: Database, alice: User
    ) -> None:
        first = await account(db, alice, total=3, byStatus={"Sent": 3},
                              outboundByStatus={"Sent": 3})
        await account(db, alice, total=5, byStatus={"Read": 5}, outboundByStatus={"Read": 5})
        status, body = await get(client, alice, STATS, whatsappAccountId=first)
        assert status == 200, body
        assert body["data"]["total"] == 3 and body["data"]["byStatus"]["Read"] == 0
        assert body["data"]["deliveryRate"] == 0

    async def test_never_counts_messages(
        self, client: TestClient, db: Database, alice: User
    ) -> None:
        await account(db, alice, total=1, byStatus={"Sent": 1})
        await db.messages.insert_many([
            {"_id": str(uuid.uuid4()), "userId": alice.id, "status": "Read", "type": "Text",
             "direction": "Outbound", "createdAt": utcnow()} for _ in range(5)
        ])
        _, body = await get(client, alice, STATS)
        assert body["data"]["total"] == 1 and body["data"]["byStatus"]["Read"] == 0

    async def test_plain_path_is_not_taken_for_a_message_id(
        self, client: TestClient, alice: User
    ) -> None:
        status, body = await get(client, alice, STATS)
        assert status == 200 and "byStatus" in body["data"]


class TestStatisticsRefusals:
    """Other tenants' accounts are 404; bad queries are 400; keys need messages:read."""

    async def test_another_users_account_is_not_found(
        self, client: TestClient, db: Database, alice: User, bob: User
    ) -> None:
        bobs = await account(db, bob, total=7, byStatus={"Sent": 7})
        for path in (STATS, DAILY):
            status, body = await get(client, alice, path, whatsappAccountId=bobs)
            assert status == 404 and body["code"] == "NOT_FOUND"
        _, mine = await get(client, alice, STATS)
        assert mine["data"]["total"] == 0

    @pytest.mark.parametrize("params", [
        {"whatsappAccountId[$ne]": "x"}, {"status": "Sent"}, {"whatsappAccountId": ""},
    ])
    async def test_bad_query_is_400(
        self, client: TestClient, alice: User, params: dict[str, str]
    ) -> None:
        status, body = await get(client, alice, STATS, **params)
        assert status == 400 and body["code"] == "VALIDATION_ERROR" and body["message"]

    async def test_scope_and_key_are_checked(
        self, client: TestClient, db: Database, alice: User
    ) -> None:
        reader = await alice.key_with(db, "accounts:read")
        assert (await client.get(STATS, headers=reader.headers())).status == 403
        assert (await client.get(DAILY)).status == 401


class TestDailySeries:
    """One entry per day, zero-filled, summed over accounts; the range is checked."""

    async def test_default_is_the_last_thirty_days_ending_today(
        self, client: TestClient, db: Database, alice: User
    ) -> None:
        today = utcnow().date()
        await account(db, alice, days={today.isoformat(): {"sent": 2, "received": 1}})
        await account(db, alice, days={today.isoformat(): {"sent": 1, "read": 4}})
        status, body = await get(client, alice, DAILY)
        assert status == 200, body
        days = body["data"]["days"]
        assert len(days) == 30
        assert days[0]["date"] == (today - timedelta(days=29)).isoformat()
        assert days[-1] == {"date": today.isoformat(), "sent": 3, "delivered": 0, "read": 4,
                            "failed": 0, "received": 1}
        assert all(d["sent"] == 0 for d in days[:-1])

    async def test_explicit_range_for_one_account(
        self, client: TestClient, db: Database, alice: User
    ) -> None:
        mine = await account(db, alice, days={"2026-02-28": {"failed": 2},
                                              "2026-03-02": {"delivered": 5}})
        await account(db, alice, days={"2026-02-28": {"failed": 9}})
        status, body = await get(client, alice, DAILY, whatsappAccountId=mine,
                                 **{"from": "2026-02-27", "to": "2026-03-02"})
        assert status == 200, body
        assert [d["date"] for d in body["data"]["days"]] == [
            "2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]
        assert [d["failed"] for d in body["data"]["days"]] == [0, 2, 0, 0]
        assert body["data"]["days"][-1]["delivered"] == 5

    async def test_a_leap_year_of_days_is_the_most(
        self, client: TestClient, alice: User
    ) -> None:
        first = date(2024, 1, 1)
        ok_range = {"from": first.isoformat(), "to": (first + timedelta(days=365)).isoformat()}
        status, body = await get(client, alice, DAILY, **ok_range)
        assert status == 200 and len(body["data"]["days"]) == 366
        too_long = {"from": first.isoformat(), "to": (first + timedelta(days=366)).isoformat()}
        status, body = await get(client, alice, DAILY, **too_long)
        assert status == 400 and "366" in body["message"]

    @pytest.mark.parametrize("params", [
        {"from": "2026-03-02", "to": "2026-03-01"},
        {"from": "2026-02-30"},
        {"to": "yesterday"},
        {"from": "2026-1-1"},
    ])
    async def test_bad_dates_are_400(
        self, client: TestClient, alice: User, params: dict[str, str]
    ) -> None:
        status, body = await get(client, alice, DAILY, **params)
        assert status == 400 and body["code"] == "VALIDATION_ERROR", body
