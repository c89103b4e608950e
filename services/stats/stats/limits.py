"""How close the WhatsApp accounts are to their daily limits, for the metrics and the alerts.

A daily limit is counted twice per account and UTC day, under the id ``<accountId>:<YYYY-MM-DD>``:
the gateway's acceptances in ``daily_usage`` (``gateway.accept.usage_id``; when used up, new
messages are refused) and the sender's Cloud API calls in ``daily_sends`` (``sender.daily``; when
used up, the account's sends wait for the next UTC day). They differ (a message accepted today
may be sent tomorrow; a retry is a second call), and either can be the one that binds, so an
account's use today is the larger of the two. Every ``interval`` this reads the accounts'
``dailyLimit`` and today's counts, and exports the number of accounts at or above :data:`NEAR`
of their limit and the highest share used. Labels stay bounded: no account ids (the
per-account figures are in the API and the logs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from shared.db import Database
from stats.metrics import StatsMetrics

log = structlog.get_logger("relay.stats.limits")

NEAR = 0.9
POLL_SECONDS = 60.0
DEFAULT_DAILY_LIMIT = 1000
BATCH = 500


@dataclass(frozen=True)
class LimitUse:
    """Today's use of the daily limits over every account."""

    near: int
    max_ratio: float


def limit_use(
    limits: Mapping[str, int], used: Mapping[str, int], *, near: float = NEAR
) -> LimitUse:
    """Accounts (id -> dailyLimit) and their counts today (id -> units) -> :class:`LimitUse`.
    A limit of 0 allows nothing, so it counts as used up."""
    ratios = [used.get(account, 0) / limit if limit > 0 else 1.0
              for account, limit in limits.items()]
    return LimitUse(near=sum(r >= near for r in ratios), max_ratio=max(ratios, default=0.0))


def usage_ids(accounts: Iterable[str], now: datetime) -> list[str]:
    day = now.astimezone(UTC).strftime("%Y-%m-%d")
    return [f"{account}:{day}" for account in accounts]


async def read_use(db: Database, now: datetime) -> LimitUse:
    """Read every account's limit and today's counts, accepted and sent, the larger of the
    two per account (in batches of ids, no joins)."""
    limits: dict[str, int] = {}
    async for doc in db.accounts.find({}, {"dailyLimit": 1}):
        limits[str(doc["_id"])] = int(doc.get("dailyLimit", DEFAULT_DAILY_LIMIT))
    used: dict[str, int] = {}
    ids = usage_ids(limits, now)
    for collection in (db.daily_usage, db.daily_sends):
        for start in range(0, len(ids), BATCH):
            found: list[dict[str, Any]] = await collection.find(
                {"_id": {"$in": ids[start:start + BATCH]}}, {"count": 1}).to_list(None)
            for doc in found:
                account = str(doc["_id"]).rsplit(":", 1)[0]
                used[account] = max(used.get(account, 0), int(doc.get("count", 0)))
    return limit_use(limits, used)


async def poll_daily_limits(
    db: Database, *, metrics: StatsMetrics, interval: float = POLL_SECONDS
) -> None:
    """Export ``relay_accounts_near_daily_limit`` and ``relay_daily_limit_usage_ratio_max``,
    forever; a failed read keeps the last values and is logged."""
    while True:
        try:
            use = await read_use(db, datetime.now(UTC))
        except Exception as exc:
            log.warning("daily_limit_poll_failed", error=repr(exc)[:300])
        else:
            metrics.near_daily_limit.set(use.near)
            metrics.daily_limit_ratio.set(use.max_ratio)
        await asyncio.sleep(interval)
