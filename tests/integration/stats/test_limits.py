"""The daily-limit gauges read the real database: accounts' limits and today's usage counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.db import Database
from stats.limits import LimitUse, limit_use, read_use

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 5, 23, 30, tzinfo=UTC)


class TestLimitUse:
    def test_counts_accounts_at_or_over_the_share(self) -> None:
        use = limit_use({"a": 100, "b": 100, "c": 10, "d": 50},
                        {"a": 90, "b": 89, "c": 12})
        assert use == LimitUse(near=2, max_ratio=1.2)

    def test_a_zero_limit_is_used_up_and_no_accounts_is_zero(self) -> None:
        assert limit_use({"z": 0}, {}) == LimitUse(near=1, max_ratio=1.0)
        assert limit_use({}, {}) == LimitUse(near=0, max_ratio=0.0)


class TestReadUse:
    async def test_reads_todays_usage_only(self, db: Database) -> None:
        await db.accounts.insert_many([
            {"_id": "acc-1", "dailyLimit": 10}, {"_id": "acc-2", "dailyLimit": 100},
            {"_id": "acc-3"},  # the default limit, 1000
        ])
        yesterday = (NOW - timedelta(days=1)).strftime("%Y-%m-%d")
        await db.daily_usage.insert_many([
            {"_id": "acc-1:2026-12-05", "count": 9},
            {"_id": "acc-2:2026-12-05", "count": 50},
            {"_id": f"acc-2:{yesterday}", "count": 100},  # yesterday's: not counted
            {"_id": "acc-3:2026-12-05", "count": 950},
        ])
        assert await read_use(db, NOW) == LimitUse(near=2, max_ratio=0.95)
        tomorrow = await read_use(db, NOW + timedelta(hours=1))
        assert tomorrow == LimitUse(near=0, max_ratio=0.0)

    async def test_an_account_uses_the_larger_of_accepted_and_sent(self, db: Database) -> None:
        """Acceptances (``daily_usage``) and Cloud API calls (``daily_sends``, the sender's)
        differ: a message accepted yesterday is sent today, a retry calls twice. Whichever is
        nearer the limit is the one that binds."""
        await db.accounts.insert_many([
            {"_id": "acc-1", "dailyLimit": 10}, {"_id": "acc-2", "dailyLimit": 10},
        ])
        await db.daily_usage.insert_many([
            {"_id": "acc-1:2026-12-05", "count": 2}, {"_id": "acc-2:2026-12-05", "count": 9},
        ])
        await db.daily_sends.insert_many([
            {"_id": "acc-1:2026-12-05", "accountId": "acc-1", "day": "2026-12-05", "count": 10},
            {"_id": "acc-2:2026-12-05", "accountId": "acc-2", "day": "2026-12-05", "count": 3},
        ])
        assert await read_use(db, NOW) == LimitUse(near=2, max_ratio=1.0)
