"""The daily limit is exact under concurrency, and a refused send changes nothing."""

from __future__ import annotations

import asyncio

import pytest

from gateway.accept import usage_id
from gateway.batching import usage_batcher
from shared.db import Database
from shared.models import utcnow
from tests.integration.gateway.conftest import Client

pytestmark = pytest.mark.integration


class TestDailyLimit:
    """With N left today, any number of concurrent sends accept exactly N."""

    async def test_fifty_concurrent_sends_with_ten_left(self, api: Client, db: Database) -> None:
        account = api.tenant.account_id
        await db.accounts.update_one({"_id": account}, {"$set": {"dailyLimit": 30}})
        await db.daily_usage.insert_one({"_id": usage_id(account, utcnow()), "count": 20})
        results = await asyncio.gather(*(api.send(to=f"+1555000{i:04d}") for i in range(50)))
        statuses = [status for status, _ in results]
        assert statuses.count(202) == 10
        refused = [body for status, body in results if status != 202]
        assert len(refused) == 40
        assert all(b["code"] == "DAILY_LIMIT_REACHED" for b in refused)
        assert all(b["message"] == "Daily message limit reached" for b in refused)
        assert await db.messages.count_documents({"whatsappAccountId": account}) == 10
        usage = await db.daily_usage.find_one({"_id": usage_id(account, utcnow())})
        assert usage["count"] == 30

    async def test_refused_send_creates_no_contact(self, api: Client, db: Database) -> None:
        await db.accounts.update_one({"_id": api.tenant.account_id}, {"$set": {"dailyLimit": 0}})
        status, body = await api.send()
        assert status == 400 and body["code"] == "DAILY_LIMIT_REACHED"
        assert await db.contacts.count_documents({}) == 0
        assert await db.messages.count_documents({}) == 0


class TestUsageAcrossReplicas:
    """Two gateways' batchers on one counter grant exactly the limit between them."""

    async def test_two_batchers_grant_exactly_the_limit(self, db: Database) -> None:
        first, second = usage_batcher(db), usage_batcher(db)
        grants = await asyncio.gather(*(
            (first if i % 2 else second).submit(("acc:2026-12-01", 25), None)
            for i in range(60)))
        assert grants.count(True) == 25
        assert (await db.daily_usage.find_one({"_id": "acc:2026-12-01"}))["count"] == 25
