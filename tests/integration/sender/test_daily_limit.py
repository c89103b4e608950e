"""The daily limit holds per UTC day of *sends* (invariant 5), across midnight: the sender runs on
a clock set two seconds before a UTC midnight, messages are sent, retried and scheduled across
it, and no day has more Cloud API calls (as the simulator received them) than ``dailyLimit``.
What a day's limit leaves stays ``Queued`` for the next day."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from sender.daily import day_of, next_midnight
from sender.daily_store import MongoDailySends
from sender.main import SenderService, bootstrap
from shared.db import Database
from shared.settings import Settings
from tests.conftest import eventually
from tests.integration.sender.support import Seeder, SimControl

pytestmark = pytest.mark.integration

LIMIT = 3


class ShiftedClock:
    """Real time plus an offset, settable while the sender runs (before it sends anything)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def set(self, at: float) -> None:
        """Make it ``at`` now."""
        self.offset = at - time.time()


@pytest.fixture
async def shifted(settings: Settings, sim: SimControl) -> AsyncIterator[
        tuple[SenderService, ShiftedClock]]:
    clock = ShiftedClock()
    # A call reaches the simulator within its timeout: 0.5 s of the day go unused; the retry
    # backoff carries a refused first attempt across midnight.
    tuned = settings.model_copy(update={"send_timeout_seconds": 0.5, "retry_base_seconds": 2.0})
    service = bootstrap(tuned, clock=clock)
    await service.start()
    try:
        assert service.keeper is not None
        keeper = service.keeper
        await eventually(lambda: _true(len(keeper.consuming) == tuned.send_shards),
                         message="every shard consumed")
        yield service, clock
    finally:
        await service.stop()


async def _true(value: bool) -> bool:
    return value


def at_ms(at: float) -> datetime:
    moment = datetime.fromtimestamp(at, UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


async def calls(sim: SimControl, pnid: str, offset: float) -> list[tuple[str, float]]:
    """Every Cloud API send call the simulator received for the number — accepted or refused —
    as (message id, the sender's clock at receipt)."""
    accepted = await sim.sends()
    refused = (await sim.call("GET", "rejected"))["rejected"]
    return sorted(((c["messageId"], c["at"] + offset) for c in accepted + refused
                   if c["phoneNumberId"] == pnid), key=lambda c: c[1])


class TestAcrossMidnight:
    async def test_no_day_has_more_calls_than_the_limit(
        self, seeder: Seeder, sim: SimControl, db: Database,
        shifted: tuple[SenderService, ShiftedClock],
    ) -> None:
        service, clock = shifted
        assert service.ctx is not None
        ctx = service.ctx
        account = await seeder.account()
        await db.accounts.update_one({"_id": account["_id"]}, {"$set": {"dailyLimit": LIMIT}})
        pnid = account["phoneNumberId"]
        clock.set(next_midnight(time.time()) - 2.0)  # 23:59:58 on the sender's clock
        midnight = next_midnight(clock())
        today, tomorrow = day_of(midnight - 1), day_of(midnight)

        # 1. A first attempt refused (retryable) spends today's first unit; its retry is due
        #    just after midnight.
        await sim.fail(code=131000, to="+15550000001", times=1)
        [retried] = await seeder.messages(account, to="+15550000001")
        await seeder.publish(retried)
        await eventually(lambda: calls(sim, pnid, clock.offset), message="the refused call")

        # 2. Three more today: two fit, one waits for midnight. One scheduled into the day's
        #    last half second (the call timeout) waits too; one scheduled after midnight finds
        #    tomorrow full and waits for the day after.
        plain = await seeder.messages(account, 3)
        [late] = await seeder.messages(account, scheduled_for=at_ms(midnight - 0.3))
        [tomorrows] = await seeder.messages(account, scheduled_for=at_ms(midnight + 1.0))
        for doc in [*plain, late, tomorrows]:
            await seeder.publish(doc)

        async def settled() -> list[tuple[str, float]] | None:
            # Settled once the message scheduled for tomorrow found tomorrow full (this sender
            # then knows the day full) and gave its claim back; a call too many ends it at once.
            seen = await calls(sim, pnid, clock.offset)
            if len(seen) > 2 * LIMIT:
                return seen
            if ctx.full_days.get(account["_id"], ("",))[0] != tomorrow:
                return None
            return seen if (await seeder.status(tomorrows)).get("claimedBy") is None else None

        seen = await eventually(settled, timeout=15, message="both days' calls")
        per_day = Counter(day_of(at) for _, at in seen)
        assert per_day == {today: LIMIT, tomorrow: LIMIT}, seen

        # The retry crossed midnight and spent a unit of the new day.
        assert [day_of(at) for mid, at in seen if mid == retried["_id"]] == [today, tomorrow]
        stored = await seeder.status(retried)
        assert stored["status"] == "Sent" and stored["attempts"] == 2
        # The one in the day's last stretch went after midnight, on tomorrow's unit.
        [(_, late_at)] = [(m, at) for m, at in seen if m == late["_id"]]
        assert midnight <= late_at < midnight + 1.0
        # Two of the plain ones today, the third right after midnight.
        plain_days = Counter(day_of(at) for m, at in seen if m in {d["_id"] for d in plain})
        assert plain_days == {today: 2, tomorrow: 1}
        # What tomorrow's limit leaves stays Queued, unclaimed, its attempt not counted.
        waiting = await seeder.status(tomorrows)
        assert waiting["status"] == "Queued" and waiting["attempts"] == 0
        assert not waiting.get("errorMessage")
        assert all(m != tomorrows["_id"] for m, _ in seen)

        # The counters agree with the receiver.
        counts = MongoDailySends(db)
        assert await counts.count(account["_id"], today) == LIMIT
        assert await counts.count(account["_id"], tomorrow) == LIMIT


class TestCounter:
    """``daily_sends`` never passes the limit, however many take at once."""

    async def test_concurrent_takes_grant_exactly_the_limit(self, db: Database) -> None:
        import asyncio

        stores = [MongoDailySends(db) for _ in range(3)]  # three senders
        granted = await asyncio.gather(*(
            stores[i % 3].take("acc-1", "2027-01-15", 7) for i in range(30)))
        assert sum(granted) == 7
        assert await stores[0].count("acc-1", "2027-01-15") == 7
        doc: dict[str, Any] | None = await db.daily_sends.find_one({"_id": "acc-1:2027-01-15"})
        assert doc is not None and doc["accountId"] == "acc-1" and doc["day"] == "2027-01-15"

    async def test_a_unit_given_back_can_be_taken_again(self, db: Database) -> None:
        store = MongoDailySends(db)
        assert await store.take("acc-2", "2027-01-15", 1)
        assert not await store.take("acc-2", "2027-01-15", 1)
        await store.give_back("acc-2", "2027-01-15")
        assert await store.take("acc-2", "2027-01-15", 1)
        assert await store.count("acc-2", "2027-01-15") == 1
