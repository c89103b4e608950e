"""What every handler gets: the wired dependencies, and the account paces this process owns."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from sender.accounts import Account
from sender.metrics import SenderMetrics
from sender.pacing import WINDOW_SECONDS, AccountPace, Clock, Pacer
from sender.ports import (
    AccountsPort,
    BrokerPort,
    CloudPort,
    ContactWindowsPort,
    DailySendsPort,
    FetcherPort,
)
from shared.db import Database
from shared.media import MediaStore
from shared.messages import MessageStore
from shared.settings import Settings
from shared.store import EventOutbox
from shared.topology import shard_key, shard_of

log = structlog.get_logger("relay.sender")

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Context:
    """The sender's dependencies, passed to every handler (built by ``bootstrap``)."""

    settings: Settings
    db: Database
    broker: BrokerPort
    cloud: CloudPort
    store: MediaStore
    fetcher: FetcherPort
    accounts: AccountsPort
    messages: MessageStore
    pacer: Pacer
    metrics: SenderMetrics
    clock: Clock
    process_id: str
    daily_sends: DailySendsPort
    windows: ContactWindowsPort
    outbox: EventOutbox | None = None
    sleep: Sleep = asyncio.sleep
    semaphore: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(10))
    _seeding: dict[str, asyncio.Future[AccountPace]] = field(default_factory=dict)
    # Commands of each account being handled past the plan (reading, waiting for a send slot,
    # sending): kept at the concurrency, so one account's burst never fills the prefetch.
    active: collections.Counter[str] = field(default_factory=collections.Counter)
    # Commands of each account set aside (busy) and not back yet: the queue in front of the next.
    aside: collections.Counter[str] = field(default_factory=collections.Counter)
    # Moving average of how long one attempt holds a send slot (claim, call, record), seconds.
    slot_seconds: float = 0.05
    # Accounts whose send day is known full here: account id -> (day, dailyLimit). Only ever
    # holds an account back until its day is over (or its limit is raised): conservative.
    full_days: dict[str, tuple[str, int]] = field(default_factory=dict)

    def day_full(self, account_id: str, day: str, limit: int) -> bool:
        full = self.full_days.get(account_id)
        return full is not None and full[0] == day and full[1] >= limit

    def mark_day_full(self, account_id: str, day: str, limit: int) -> None:
        self.full_days[account_id] = (day, limit)

    def observe_slot(self, seconds: float) -> None:
        self.slot_seconds += 0.05 * (seconds - self.slot_seconds)

    def now_dt(self) -> datetime:
        return to_datetime(self.clock())

    def route(self, account_id: str) -> str:
        return shard_key(shard_of(account_id, self.broker.shards))

    async def pace_for(self, account: Account) -> AccountPace:
        """The account's pace; the first time, seeded from MongoDB (the previous owner's sends)."""
        pace = self.pacer.get(account.id)
        if pace is not None:
            pace.set_rate(account.rate_per_minute)
            return pace
        pending = self._seeding.get(account.id)
        if pending is None:
            pending = asyncio.ensure_future(self._seed(account))
            self._seeding[account.id] = pending
            pending.add_done_callback(lambda _: self._seeding.pop(account.id, None))
        return await asyncio.shield(pending)

    async def _seed(self, account: Account) -> AccountPace:
        times = await self.messages.recent_attempts(account.id, now=self.clock(),
                                                    window=WINDOW_SECONDS + 1)
        if times:
            log.info("pace_seeded", account_id=account.id, recent=len(times))
        return self.pacer.create(account.id, account.rate_per_minute, times)


def to_datetime(at: float) -> datetime:
    """A clock reading as a tz-aware datetime in MongoDB's millisecond precision."""
    value = datetime.fromtimestamp(at, UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def stored_seconds(value: Any) -> float | None:
    """A stored date as Unix seconds. nx-27017 hands back dates written by update operators as
    strings without a zone (docs/DEVIATIONS.md); they are UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


