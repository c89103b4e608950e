"""The daily limit counts sends per UTC send day (invariant 5), on the fakes of the sender's ports:
a full day defers to the next UTC midnight (Queued, not Failed), every Cloud API call spends a
unit (retries and refusals too), and a call not made spends none."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sender import daily
from shared.cloudapi import CloudApiError
from shared.headers import NOT_BEFORE, not_before_ms
from shared.models import MessageStatus
from tests.unit.sender.test_send_path import World, world

pytestmark = pytest.mark.unit

# 2027-01-15 23:00:00 UTC: an hour before midnight.
EVENING = datetime(2027, 1, 15, 23, 0, tzinfo=UTC).timestamp()
MIDNIGHT = datetime(2027, 1, 16, tzinfo=UTC).timestamp()
TODAY, TOMORROW = "2027-01-15", "2027-01-16"


def unavailable() -> CloudApiError:
    return CloudApiError("Service unavailable", http_status=503)


async def come_back(w: World, index: int = -1) -> None:
    """The deferred command ``index`` returns from the delay queues at its time."""
    _, command, until = w.broker.deferred[index]
    w.clock.now = max(w.clock.now, until)
    await w.handle(w.messages[command["messageId"]], {NOT_BEFORE: not_before_ms(until)})


class TestDays:
    def test_day_and_next_midnight_are_utc(self) -> None:
        assert daily.day_of(MIDNIGHT - 0.001) == TODAY and daily.day_of(MIDNIGHT) == TOMORROW
        assert daily.next_midnight(EVENING) == MIDNIGHT
        assert daily.next_midnight(MIDNIGHT) == MIDNIGHT + 86_400


class TestFullDay:
    async def test_a_full_day_defers_to_the_next_midnight_queued(self) -> None:
        w = world(daily_limit=2, start=EVENING)
        messages = [w.queued() for _ in range(3)]
        for message in messages:
            await w.handle(message)
        assert len(w.cloud.sends) == 2 and w.daily.counts == {("acc", TODAY): 2}
        [(_, command, until)] = w.broker.deferred
        assert command["messageId"] == messages[2].id and until == MIDNIGHT
        waiting = w.messages[messages[2].id]
        assert waiting.status == MessageStatus.QUEUED and waiting.error_message is None
        assert waiting.attempts == 0 and waiting.claimed_by is None  # the claim given back

    async def test_the_next_day_it_is_sent_on_that_days_unit(self) -> None:
        w = world(daily_limit=2, start=EVENING)
        messages = [w.queued() for _ in range(3)]
        for message in messages:
            await w.handle(message)
        await come_back(w)
        assert w.messages[messages[2].id].status == MessageStatus.SENT
        assert w.messages[messages[2].id].attempts == 1
        assert w.daily.counts == {("acc", TODAY): 2, ("acc", TOMORROW): 1}

    async def test_a_known_full_day_defers_before_reading(self) -> None:
        """Once this process has seen the day full, the account's next commands go straight to
        midnight: no claim, no unit asked for."""
        w = world(daily_limit=1, start=EVENING)
        first, second, third = w.queued(), w.queued(), w.queued()
        await w.handle(first)
        await w.handle(second)  # finds the day full
        writes, asked = w.messages.writes, len(w.daily.taken)
        await w.handle(third)
        assert w.messages.writes == writes and len(w.daily.taken) == asked
        assert [until for _, _, until in w.broker.deferred] == [MIDNIGHT, MIDNIGHT]
        assert w.ctx.metrics.deferrals.labels(daily.DAY_FULL)._value.get() == 2

    async def test_a_raised_limit_lets_the_day_go_on(self) -> None:
        w = world(daily_limit=1, start=EVENING)
        first, second = w.queued(), w.queued()
        await w.handle(first)
        await w.handle(second)
        account = w.accounts.accounts["acc"]
        w.accounts.accounts["acc"] = type(account)(**{**account.__dict__, "daily_limit": 2})
        await w.handle(second)
        assert w.messages[second.id].status == MessageStatus.SENT

    async def test_a_zero_limit_sends_nothing_and_fails_nothing(self) -> None:
        w = world(daily_limit=0, start=EVENING)
        message = w.queued()
        await w.handle(message)
        assert w.cloud.sends == [] and w.messages[message.id].status == MessageStatus.QUEUED
        assert [until for _, _, until in w.broker.deferred] == [MIDNIGHT]


class TestUnits:
    async def test_a_retry_the_same_day_spends_no_second_unit(self) -> None:
        w = world(daily_limit=2, start=EVENING)
        w.cloud.errors.append(unavailable())
        retried, other, third = w.queued(), w.queued(), w.queued()
        await w.handle(retried)  # a call, refused: the message's unit of today
        await come_back(w)  # the retry, today: no second unit
        assert w.messages[retried.id].status == MessageStatus.SENT
        assert w.daily.counts == {("acc", TODAY): 1}
        await w.handle(other)
        assert w.messages[other.id].status == MessageStatus.SENT
        await w.handle(third)  # two messages called today: the day is full
        assert w.messages[third.id].status == MessageStatus.QUEUED
        assert w.broker.deferred[-1][2] == MIDNIGHT

    async def test_a_retry_on_the_next_day_spends_a_unit_of_that_day(self) -> None:
        w = world(daily_limit=1, start=MIDNIGHT - 60)
        w.cloud.errors.append(unavailable())
        message = w.queued()
        await w.handle(message)  # refused: today's only unit
        w.clock.now = MIDNIGHT + 30
        await come_back(w, 0)  # the retry, after midnight: a unit of the new day
        assert w.messages[message.id].status == MessageStatus.SENT
        assert w.messages[message.id].attempts == 2
        assert w.daily.counts == {("acc", TODAY): 1, ("acc", TOMORROW): 1}

    async def test_a_final_refusal_still_spent_its_unit(self) -> None:
        w = world(daily_limit=1, start=EVENING)
        w.cloud.errors.append(CloudApiError("Invalid parameter", code=100, http_status=400))
        refused, other = w.queued(), w.queued()
        await w.handle(refused)
        await w.handle(other)
        assert w.messages[refused.id].status == MessageStatus.FAILED
        assert w.messages[other.id].status == MessageStatus.QUEUED
        assert w.daily.counts == {("acc", TODAY): 1}


class TestNoCallNoUnit:
    async def test_a_lost_claim_takes_no_unit(self) -> None:
        w = world(daily_limit=5, start=EVENING)
        message = w.queued()
        await w.messages.claim(message.id, owner="sender-2", now=w.clock(), lease_seconds=60)
        await w.handle(message)
        assert w.daily.taken == []

    async def test_a_duplicate_command_takes_no_unit(self) -> None:
        w = world(daily_limit=5, start=EVENING)
        message = w.queued()
        await w.handle(message)
        await w.handle(message)
        assert w.daily.taken == [("acc", TODAY)]

    async def test_pacing_deferrals_take_no_unit(self) -> None:
        w = world(pacing=True, rate=2, daily_limit=5, start=EVENING)
        for _ in range(4):
            await w.handle(w.queued())
        assert len(w.cloud.sends) == 2 and len(w.daily.taken) == 2

    async def test_a_message_scheduled_for_tomorrow_spends_tomorrows_unit(self) -> None:
        w = world(daily_limit=1, start=EVENING)
        later = w.queued(scheduled_for=datetime.fromtimestamp(MIDNIGHT + 3600, UTC))
        await w.handle(later)
        assert w.daily.taken == []
        await w.handle(w.queued())  # today's unit is still there
        await come_back(w, 0)
        assert w.messages[later.id].status == MessageStatus.SENT
        assert w.daily.counts == {("acc", TODAY): 1, ("acc", TOMORROW): 1}


class TestNoCallStraddlesMidnight:
    async def test_the_days_last_stretch_waits_for_midnight(self) -> None:
        """A call may take up to the send timeout to reach Meta: none starts that close to
        midnight, so none is received on a day its unit did not count on."""
        w = world(daily_limit=5, start=MIDNIGHT - w_timeout() / 2)
        message = w.queued()
        await w.handle(message)
        assert w.cloud.sends == [] and w.daily.taken == []
        [(_, _, until)] = w.broker.deferred
        assert until == MIDNIGHT
        assert w.messages[message.id].attempts == 0
        await come_back(w)
        assert w.daily.taken == [("acc", TOMORROW)]
        assert w.messages[message.id].status == MessageStatus.SENT


def w_timeout() -> float:
    return world().ctx.settings.send_timeout_seconds
