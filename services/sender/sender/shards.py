"""Consuming exactly the shards this sender leases (``sender.leases``).

:class:`ShardKeeper` runs a lease round every ``RELAY_SHARD_LEASE_RENEW_SECONDS`` and acts on
it: a shard taken is subscribed; a shard above the share is handed over (its consumer cancelled,
the commands in hand finished, its channel closed, then the lease freed); a lease found lost is
stopped at once. A watchdog, independent of the database calls, stops every shard whose lease
was not confirmed for ``ttl - renew`` seconds of this process's monotonic clock: a sender that
cannot reach the database stops consuming before its lease can expire elsewhere.

:class:`BrokerShards` is the broker side: one consumer per shard, commands in hand counted per
shard, and the accounts seen per shard, whose pacing windows are dropped when the shard goes
(they are seeded again from MongoDB if the shard comes back, with the other owner's sends).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog
from aio_pika.abc import AbstractIncomingMessage
from pymongo.errors import PyMongoError

from sender.leases import ShardLeases
from shared.broker import Broker, Subscription
from shared.models import SenderCommand
from shared.tasks import stop_task
from shared.topology import shard_queue

log = structlog.get_logger("relay.sender")

Handler = Callable[[Any, AbstractIncomingMessage], Awaitable[None]]


class ShardConsumerPort(Protocol):
    """The consumers the keeper starts and stops, one per shard."""

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up (leases are held only while it is)."""

    async def start(self, shard: int) -> None:
        """Subscribe to the shard's queue."""

    async def stop(self, shard: int) -> None:
        """Cancel the shard's consumer, let its commands in hand finish, close its channel."""


class ShardKeeper:
    """The lease loop and the local deadline watchdog of one sender."""

    def __init__(self, leases: ShardLeases, consumers: ShardConsumerPort, *,
                 renew_seconds: float, ttl_seconds: float,
                 monotonic: Callable[[], float] = time.monotonic,
                 on_owned: Callable[[int], object] = lambda _: None) -> None:
        self.leases = leases
        self.consumers = consumers
        self.renew_seconds = renew_seconds
        self.ttl_seconds = ttl_seconds
        self._monotonic = monotonic
        self._on_owned = on_owned
        self.deadlines: dict[int, float] = {}
        self._stopping: dict[int, asyncio.Task[None]] = {}
        self._loop: asyncio.Task[None] | None = None
        self._round: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """A first round at once (a lone sender consumes every shard right away), then loop."""
        await self.round_once()
        self._loop = asyncio.create_task(self._run())

    async def _run(self) -> None:
        next_round = self._monotonic() + self.renew_seconds
        tick = min(0.2, self.renew_seconds / 4)
        while True:
            await asyncio.sleep(tick)
            self.check_deadlines()
            if self._monotonic() >= next_round and (self._round is None or self._round.done()):
                next_round = self._monotonic() + self.renew_seconds
                self._round = asyncio.create_task(self.round_once())

    async def round_once(self) -> None:
        """One lease round; a failure (database or broker away) renews nothing."""
        if not self.consumers.connected:
            log.warning("shard_leases_not_renewed", reason="broker disconnected")
            return
        started = self._monotonic()
        try:
            result = await asyncio.wait_for(self.leases.round(), self.ttl_seconds)
        except (PyMongoError, OSError, TimeoutError) as exc:
            log.warning("shard_leases_not_renewed", reason=repr(exc)[:200])
            return
        deadline = started + self.ttl_seconds - self.renew_seconds
        for shard in result.lost:
            log.warning("shard_lease_lost", shard=shard)
            self._stop(shard, release=False)
        for shard in self.leases.held:
            self.deadlines[shard] = deadline
        for shard in result.surplus:
            log.info("shard_handover", shard=shard, share=result.share)
            self._stop(shard, release=True)
        for shard in result.acquired:
            await self._start(shard)
        self._report()

    def check_deadlines(self) -> None:
        """Stop every shard whose lease this process can no longer vouch for."""
        now = self._monotonic()
        for shard, deadline in list(self.deadlines.items()):
            if now >= deadline:
                log.warning("shard_lease_expiring", shard=shard)
                self.leases.forget([shard])
                self._stop(shard, release=False)

    async def _start(self, shard: int) -> None:
        previous = self._stopping.get(shard)
        if previous is not None:  # the shard came back while its old consumer drains
            await asyncio.shield(previous)
        try:
            await self.consumers.start(shard)
        except Exception as exc:
            log.warning("shard_subscribe_failed", shard=shard, error=repr(exc)[:200])
            self.deadlines.pop(shard, None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.leases.released(shard), self.renew_seconds)
            self.leases.forget([shard])
            return
        log.info("shard_taken", shard=shard)

    def _stop(self, shard: int, *, release: bool) -> None:
        if not release:
            self.deadlines.pop(shard, None)
        if shard not in self._stopping:
            self._stopping[shard] = asyncio.create_task(self._stop_then(shard, release))
        self._report()

    async def _stop_then(self, shard: int, release: bool) -> None:
        try:
            await self.consumers.stop(shard)
            if release:
                await asyncio.wait_for(self.leases.released(shard), self.renew_seconds)
                log.info("shard_released", shard=shard)
        except (PyMongoError, OSError, TimeoutError) as exc:
            log.warning("shard_release_failed", shard=shard, error=repr(exc)[:200])
            self.leases.forget([shard])  # not renewed any more: it expires for the others
        finally:
            self.deadlines.pop(shard, None)
            self._stopping.pop(shard, None)
            self._report()

    def _report(self) -> None:
        self._on_owned(len(self.consuming))

    @property
    def consuming(self) -> set[int]:
        """Shards subscribed and not being stopped."""
        return self.leases.active - set(self._stopping)

    async def close(self) -> None:
        """Stop the loop and every consumer (commands in hand finish), then free the leases."""
        for task in (self._loop, self._round):
            await stop_task(task)
        for shard in sorted(self.leases.active):
            self._stop(shard, release=False)
        await asyncio.gather(*list(self._stopping.values()), return_exceptions=True)
        try:
            await asyncio.wait_for(self.leases.leave(), self.ttl_seconds)
        except (PyMongoError, OSError, TimeoutError) as exc:  # they expire on their own
            log.warning("shard_leases_not_freed", error=repr(exc)[:200])


class BrokerShards:
    """:class:`ShardConsumerPort` over the sender's broker connection."""

    def __init__(self, broker: Broker, handler: Handler, *, prefetch: int,
                 drain_seconds: float,
                 forget_account: Callable[[str], object] = lambda _: None) -> None:
        self.broker = broker
        self._handler = handler
        self._prefetch = prefetch
        self._drain_seconds = drain_seconds
        self._forget_account = forget_account
        self._subscriptions: dict[int, Subscription] = {}
        self._in_hand: collections.Counter[int] = collections.Counter()
        self._idle: dict[int, asyncio.Event] = {}
        self.accounts: dict[int, set[str]] = collections.defaultdict(set)

    @property
    def connected(self) -> bool:
        return self.broker.is_connected

    async def start(self, shard: int) -> None:
        self._idle.setdefault(shard, asyncio.Event()).set()

        async def handle(command: Any, message: AbstractIncomingMessage) -> None:
            self.accounts[shard].add(command.whatsapp_account_id)
            self._in_hand[shard] += 1
            self._idle[shard].clear()
            try:
                await self._handler(command, message)
            finally:
                self._in_hand[shard] -= 1
                if self._in_hand[shard] == 0:
                    self._idle[shard].set()

        self._subscriptions[shard] = await self.broker.consume(
            shard_queue(shard), handle, model=SenderCommand, prefetch=self._prefetch)

    async def stop(self, shard: int) -> None:
        subscription = self._subscriptions.pop(shard, None)
        if subscription is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.broker.unsubscribe(subscription), 5)
        idle = self._idle.get(shard)
        if idle is not None and self._in_hand[shard]:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(idle.wait(), self._drain_seconds)
        if subscription is not None:
            await subscription.close()
        for account_id in self.accounts.pop(shard, set()):
            self._forget_account(account_id)
