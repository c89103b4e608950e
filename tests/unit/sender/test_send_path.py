"""The sender's path — admit or defer, claim, call, record — on in-memory fakes of its ports."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from sender.accounts import Account
from sender.context import Context
from sender.handlers import send
from sender.metrics import SenderMetrics
from sender.pacing import Pacer
from shared.cloudapi import CloudApiError
from shared.messages import Message, new_outbound
from shared.models import MessageStatus, MessageType, SendMessage
from shared.settings import Settings
from tests.unit.fakes import FakeDailySends, FakeMessageStore

pytestmark = pytest.mark.unit

START = 1_800_000_000.0


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeCloud:
    """The Cloud API: records every send; ``errors`` are raised, first to last, before it."""

    sends: list[dict[str, Any]] = field(default_factory=list)
    errors: list[CloudApiError] = field(default_factory=list)

    async def send(self, phone_number_id: str, token: str, payload: dict[str, Any]) -> str:
        if self.errors:
            raise self.errors.pop(0)
        self.sends.append(payload)
        return f"wamid.{len(self.sends)}"

    async def mark_read(self, phone_number_id: str, token: str, wamid: str) -> None:
        raise AssertionError("not used here")

    async def upload_media(self, *args: Any) -> str:
        raise AssertionError("not used here")


@dataclass
class FakeBroker:
    """Deferrals as (routing key, command, not-before seconds)."""

    shards: int = 8
    deferred: list[tuple[str, dict[str, Any], float]] = field(default_factory=list)

    async def publish(self, exchange: str, routing_key: str, body: Any, **kwargs: Any) -> None:
        raise AssertionError("the send path only defers")

    async def defer(
        self, routing_key: str, body: bytes, *, delay_ms: float, headers: dict[str, Any]
    ) -> None:
        self.deferred.append((routing_key, json.loads(body), headers["x-relay-not-before"] / 1000))


@dataclass
class FakeAccounts:
    accounts: dict[str, Account] = field(default_factory=dict)
    disconnected: dict[str, str] = field(default_factory=dict)

    async def get(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    async def disconnect(self, account_id: str, reason: str) -> None:
        self.disconnected[account_id] = reason


@dataclass
class FakeWindows:
    """Contacts' windows; a contact not listed wrote a moment ago (its window is open)."""

    expires: dict[str, datetime | None] = field(default_factory=dict)
    reads: int = 0

    async def expires_at(self, contact_id: str) -> datetime | None:
        self.reads += 1
        return self.expires.get(contact_id, datetime(9999, 1, 1, tzinfo=UTC))


@dataclass
class World:
    ctx: Context
    clock: FakeClock
    cloud: FakeCloud
    broker: FakeBroker
    accounts: FakeAccounts
    messages: FakeMessageStore
    daily: FakeDailySends
    windows: FakeWindows

    def queued(self, account_id: str = "acc", **kwargs: Any) -> Message:
        fields = {"type": MessageType.TEXT, "content": "hi", **kwargs}
        return self.messages.put(new_outbound(
            user_id="u1", account_id=account_id, contact_id="c1", to="+15551234567", **fields))

    async def handle(self, message: Message, headers: dict[str, Any] | None = None) -> None:
        command = SendMessage(message_id=message.id, user_id=message.user_id,
                              whatsapp_account_id=message.whatsapp_account_id)
        await send.handle(command, headers or {}, ctx=self.ctx)


def world(*, pacing: bool = False, rate: int = 600, connected: bool = True,
          daily_limit: int = 1000, start: float = START) -> World:
    clock, cloud, broker = FakeClock(), FakeCloud(), FakeBroker()
    clock.now = start
    accounts = FakeAccounts({"acc": Account("acc", "pn-1", "token", rate, connected,
                                            daily_limit)})
    messages, daily, windows = FakeMessageStore(), FakeDailySends(), FakeWindows()
    ctx = Context(
        settings=Settings(), db=None, broker=broker, cloud=cloud, store=None,  # type: ignore[arg-type]
        fetcher=None, accounts=accounts, messages=messages,  # type: ignore[arg-type]
        pacer=Pacer(clock=clock, enabled=pacing), metrics=SenderMetrics.create(CollectorRegistry()),
        clock=clock, process_id="sender-1", daily_sends=daily, sleep=clock.sleep,
        windows=windows,
    )
    return World(ctx, clock, cloud, broker, accounts, messages, daily, windows)


class TestSendsOnce:
    """A Queued message is claimed, sent once, and recorded Sent with its wamid."""

    async def test_sent_and_recorded(self) -> None:
        w = world()
        message = w.queued()
        await w.handle(message)
        stored = w.messages[message.id]
        assert stored.status == MessageStatus.SENT and stored.whatsapp_message_id == "wamid.1"
        assert stored.attempts == 1 and stored.claimed_by is None and stored.event_pending
        assert w.cloud.sends == [{"to": "+15551234567", "biz_opaque_callback_data": message.id,
                                  "type": "text", "text": {"body": "hi", "preview_url": False}}]

    async def test_two_writes_per_send(self) -> None:
        """The claim and the record: nothing else writes the message on the send path."""
        w = world()
        await w.handle(w.queued())
        assert w.messages.writes == 2

    async def test_a_redelivered_command_sends_nothing_more(self) -> None:
        w = world()
        message = w.queued()
        await w.handle(message)
        await w.handle(message)
        assert len(w.cloud.sends) == 1

    async def test_concurrent_duplicates_send_once(self) -> None:
        w = world()
        message = w.queued()
        await asyncio.gather(*(w.handle(message) for _ in range(5)))
        assert len(w.cloud.sends) == 1

    async def test_another_senders_live_claim_is_respected(self) -> None:
        w = world()
        message = w.queued()
        await w.messages.claim(message.id, owner="sender-2", now=w.clock(), lease_seconds=60)
        await w.handle(message)
        assert w.cloud.sends == [] and w.messages[message.id].claimed_by == "sender-2"


class TestRefusesWithoutCalling:
    """What must not go is settled without a Cloud API call."""

    async def test_disconnected_account_fails_the_message(self) -> None:
        w = world(connected=False)
        message = w.queued()
        await w.handle(message)
        stored = w.messages[message.id]
        assert stored.status == MessageStatus.FAILED and "not connected" in str(
            stored.error_message)
        assert w.cloud.sends == []

    async def test_cancelled_message_is_dropped(self) -> None:
        w = world()
        message = w.queued()
        await w.messages.move(message, MessageStatus.CANCELLED)
        await w.handle(message)
        assert w.cloud.sends == [] and w.broker.deferred == []

    async def test_scheduled_message_is_deferred_to_its_time_unclaimed(self) -> None:
        w = world()
        due = datetime.fromtimestamp(START + 3600, UTC)
        message = w.queued(scheduled_for=due)
        await w.handle(message)
        [(_, command, not_before)] = w.broker.deferred
        assert command["messageId"] == message.id and not_before == pytest.approx(START + 3600)
        assert w.cloud.sends == [] and w.messages[message.id].attempts == 0


class TestErrors:
    """Retryable errors are deferred with backoff and the claim given back; final ones fail."""

    async def test_retryable_error_defers_and_releases(self) -> None:
        w = world()
        w.cloud.errors.append(CloudApiError("Service unavailable", code=None, http_status=503))
        message = w.queued()
        await w.handle(message)
        stored = w.messages[message.id]
        assert stored.status == MessageStatus.QUEUED and stored.claimed_by is None
        assert stored.attempts == 1 and "unavailable" in str(stored.last_error)
        [(_, _, not_before)] = w.broker.deferred
        assert not_before == pytest.approx(START + w.ctx.settings.retry_base_seconds)

    async def test_retry_then_sent(self) -> None:
        w = world()
        w.cloud.errors.append(CloudApiError("Service unavailable", http_status=503))
        message = w.queued()
        await w.handle(message)
        w.clock.now += 10
        await w.handle(message)
        stored = w.messages[message.id]
        assert stored.status == MessageStatus.SENT and stored.attempts == 2

    async def test_final_error_fails_with_the_code(self) -> None:
        w = world()
        w.cloud.errors.append(CloudApiError("Invalid parameter", code=100, http_status=400))
        message = w.queued()
        await w.handle(message)
        stored = w.messages[message.id]
        assert stored.status == MessageStatus.FAILED
        assert stored.error_message == "(100) Invalid parameter"
        assert w.broker.deferred == []

    async def test_last_attempt_fails(self) -> None:
        w = world()
        message = w.queued()
        for _ in range(w.ctx.settings.max_attempts):
            w.cloud.errors.append(CloudApiError("Service unavailable", http_status=503))
            await w.handle(message)
            w.clock.now += 60
        assert w.messages[message.id].status == MessageStatus.FAILED
        assert len(w.broker.deferred) == w.ctx.settings.max_attempts - 1

    async def test_token_error_disconnects_the_account(self) -> None:
        w = world()
        w.cloud.errors.append(CloudApiError("Invalid OAuth access token", code=190,
                                            http_status=401))
        message = w.queued()
        await w.handle(message)
        assert w.messages[message.id].status == MessageStatus.FAILED
        assert "acc" in w.accounts.disconnected


class TestPacing:
    """With pacing on, an account's sends beyond its rate are deferred to planned slots."""

    async def test_beyond_the_rate_is_deferred_not_sent(self) -> None:
        w = world(pacing=True, rate=2)
        messages = [w.queued() for _ in range(4)]
        for message in messages:
            await w.handle(message)
        assert len(w.cloud.sends) == 2
        assert len(w.broker.deferred) == 2
        assert all(not_before >= START + 60 for _, _, not_before in w.broker.deferred)
        assert [w.messages[m.id].attempts for m in messages] == [1, 1, 0, 0]

    async def test_seeded_from_the_previous_owner(self) -> None:
        """Sends another process made in the last minute count against the window."""
        w = world(pacing=True, rate=2)
        for _ in range(2):
            earlier = w.queued()
            w.messages.docs[earlier.id].update(status="Sent", attempts=1,
                                               attemptedMs=int((START - 30) * 1000))
        message = w.queued()
        await w.handle(message)
        assert w.cloud.sends == []
        [(_, _, not_before)] = w.broker.deferred
        assert not_before >= START + 30
