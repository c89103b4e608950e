"""``SendMessage``: pace, claim, send once, record — or defer, retry, or fail with a reason.

The order matters: the pacing plan is consulted before the message is even read, so a backlog
is deferred at broker speed; the claim comes only once the window has a place reserved; a unit
of the account's send day is taken right before the call (``sender.daily``: a full day defers
to the next UTC midnight); the ``wamid`` is recorded the moment the Cloud API answers.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog

from sender import daily, outcomes, payload
from sender.accounts import Account
from sender.context import Context
from sender.deferral import ASIDE, HOLD_SECONDS, PLANNED, defer, wait_or_defer
from sender.media import MediaRefused
from sender.metrics import code_label
from sender.pacing import AccountPace
from shared.cloudapi import CloudApiError, ErrorClass
from shared.message_parts import OUTSIDE_WINDOW, window_open
from shared.messages import Message
from shared.models import MessageStatus, MessageType, SendMessage

log = structlog.get_logger("relay.sender")

NOT_CONNECTED = "WhatsApp account is not connected"
# A command set aside because its account has enough in hand comes back once the account's
# commands ahead of it would be through the send slots (see _busy_wait), within these bounds.
BUSY_MIN_SECONDS, BUSY_MAX_SECONDS = 0.25, 30.0


async def handle(cmd: SendMessage, headers: dict[str, Any], *, ctx: Context) -> None:
    """Handle one send command; returning means the command may be acknowledged."""
    structlog.contextvars.bind_contextvars(message_id=cmd.message_id,
                                           account_id=cmd.whatsapp_account_id)
    try:
        if not await wait_or_defer(ctx, cmd, cmd.whatsapp_account_id, headers, "early"):
            return
        if headers.get(ASIDE) and ctx.aside[cmd.whatsapp_account_id] > 0:
            ctx.aside[cmd.whatsapp_account_id] -= 1  # back: one fewer ahead of the next
            if not ctx.aside[cmd.whatsapp_account_id]:
                del ctx.aside[cmd.whatsapp_account_id]
        account = await ctx.accounts.get(cmd.whatsapp_account_id)
        if account and account.connected and (until := daily.full_until(ctx, account)):
            # The account's send day is full (seen here): wait for the next, unplanned, unread.
            await defer(ctx, cmd, account.id, until=until, reason=daily.DAY_FULL)
            return
        pace = await ctx.pace_for(account) if account and ctx.pacer.enabled else None
        slot = None
        if pace is not None and not headers.get(PLANNED):
            slot = pace.planner.plan(ctx.clock())
            if slot - ctx.clock() > HOLD_SECONDS:
                await defer(ctx, cmd, cmd.whatsapp_account_id, until=slot, reason="pacing",
                            headers=headers, planned=True)
                return
        busy = ctx.active[cmd.whatsapp_account_id] >= ctx.settings.send_concurrency
        if pace is not None and busy:
            # Enough of this account's commands already wait for a send slot here: this one
            # waits in the delay queues (its slot kept), not in the prefetch, where it would
            # stand in front of other accounts' commands on the same shard.
            await defer(ctx, cmd, cmd.whatsapp_account_id,
                        until=ctx.clock() + _busy_wait(ctx, cmd.whatsapp_account_id),
                        reason="busy", headers=headers, planned=True, aside=True)
            ctx.aside[cmd.whatsapp_account_id] += 1
            return
        ctx.active[cmd.whatsapp_account_id] += 1
        try:
            used = await _send_or_settle(ctx, cmd, headers, account, pace)
        finally:
            ctx.active[cmd.whatsapp_account_id] -= 1
            if not ctx.active[cmd.whatsapp_account_id]:
                del ctx.active[cmd.whatsapp_account_id]
        if not used and pace is not None and slot is not None:
            pace.planner.release(slot)
    finally:
        structlog.contextvars.unbind_contextvars("message_id", "account_id")


async def _send_or_settle(
    ctx: Context, cmd: SendMessage, headers: dict[str, Any], account: Account | None,
    pace: AccountPace | None,
) -> bool:
    """Send the message if it should go now; False if it did not use its pacing slot."""
    message = await ctx.messages.get(cmd.message_id)
    if message is None or message.status != MessageStatus.QUEUED:
        log.info("not_sendable", status=message and message.status)
        return False
    scheduled = message.scheduled_seconds
    if scheduled is not None and scheduled - ctx.clock() > HOLD_SECONDS:
        await defer(ctx, cmd, cmd.whatsapp_account_id, until=scheduled, reason="scheduled")
        return False
    if account is None or not account.connected:
        await outcomes.record_failed(ctx, message, NOT_CONNECTED)
        ctx.metrics.sends.labels("failed", "not_connected").inc()
        return False
    if not await _window_open(ctx, message, account):
        # Scheduled (or long queued) past the contact's window: Meta would refuse it (131047).
        await outcomes.record_failed(ctx, message, OUTSIDE_WINDOW)
        ctx.metrics.sends.labels("failed", "window").inc()
        return False
    if pace is not None and (wait := pace.recipient_wait(message.to or "", ctx.clock())) > 0:
        await defer(ctx, cmd, cmd.whatsapp_account_id, until=ctx.clock() + wait,
                    reason="pair_limit")
        return False
    return await _gated_send(ctx, cmd, headers, account, pace)


async def _window_open(ctx: Context, message: Message, account: Account) -> bool:
    """The contact's 24-hour window, re-checked right before a non-template send of an account
    that enforces it (the only case that costs a read)."""
    if message.type == MessageType.TEMPLATE or not account.enforce_window:
        return True
    if not message.contact_id:
        return False
    return window_open(await ctx.windows.expires_at(message.contact_id), ctx.now_dt())


async def _gated_send(
    ctx: Context, cmd: SendMessage, headers: dict[str, Any], account: Account,
    pace: AccountPace | None,
) -> bool:
    if pace is not None and not await _reserve(ctx, pace):
        wait = pace.window.wait(ctx.clock())
        await defer(ctx, cmd, account.id, until=ctx.clock() + (wait or 0.05), reason="window",
                    headers=headers, planned=True)
        return True  # keeps its slot: it comes back first
    slot = Slot(ctx)
    await slot.acquire()  # claim only when a call slot is free: a claim never idles
    try:
        # Not cancellable half-way: a broker blip cancels the consumer's tasks, and a send
        # cancelled after Meta accepted it, before its record, would be sent again.
        attempt = asyncio.ensure_future(_claim_and_attempt(ctx, cmd, account, pace, slot))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            await attempt  # recorded first; the command is redelivered and dropped as Sent
            raise
    finally:
        slot.release()


class Slot:
    """One of the process's send slots (``RELAY_SEND_CONCURRENCY`` calls in flight), given
    back the moment the Cloud API has answered: recording the outcome needs no slot."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._since: float | None = None

    async def acquire(self) -> None:
        await self._ctx.semaphore.acquire()
        self._since = time.monotonic()

    def release(self) -> None:
        if self._since is not None:
            self._ctx.semaphore.release()
            self._ctx.observe_slot(time.monotonic() - self._since)
            self._since = None


async def _claim_and_attempt(
    ctx: Context, cmd: SendMessage, account: Account, pace: AccountPace | None, slot: Slot
) -> bool:
    """In a send slot: claim, then one attempt; False if no call was made (the message was not
    claimable, or its send day is full)."""
    message = await outcomes.claim(ctx, cmd.message_id)
    if message is None:
        if pace is not None:
            pace.window.cancel()
        log.info("not_claimable")
        return False
    return await _attempt(ctx, cmd, message, account, pace, slot)


async def _reserve(ctx: Context, pace: AccountPace) -> bool:
    """A place in the window now, holding the command at most ``HOLD_SECONDS`` for it."""
    deadline = time.monotonic() + HOLD_SECONDS
    while not pace.window.try_acquire(ctx.clock()):
        wait = pace.window.wait(ctx.clock())
        left = deadline - time.monotonic()
        if left <= 0 or (wait is not None and wait > left):
            return False
        await ctx.sleep(min(wait if wait else 0.01, left))
    return True


async def _attempt(
    ctx: Context, cmd: SendMessage, message: Message, account: Account,
    pace: AccountPace | None, slot: Slot,
) -> bool:
    """One Cloud API attempt of a claimed message, and its outcome; False if no call was made
    because the send day is full (or ending)."""
    try:
        body = await payload.build(ctx, message, account)
        await daily.take_unit(ctx, account, message)  # right before the call
        wamid = await _call(ctx, account, body)
    except daily.NotToday as later:
        if pace is not None:
            pace.window.cancel()
        slot.release()
        # Deferred first, the claim given back second (as a retry): a crash in between leaves a
        # stale claim, which the sweeper reclaims, never a Queued message with no command.
        await defer(ctx, cmd, account.id, until=later.until, reason=later.reason)
        await outcomes.unclaim(ctx, message)
        log.info("send_day_full" if later.reason == daily.DAY_FULL else "send_day_ending",
                 until=later.until)
        return False
    except MediaRefused as exc:
        _complete(ctx, pace, slot)
        await outcomes.record_failed(ctx, message, str(exc))
        ctx.metrics.sends.labels("failed", "media").inc()
        return True
    except CloudApiError as exc:
        at = _complete(ctx, pace, slot)
        await _on_error(ctx, cmd, message, account, pace, exc, at)
        return True
    except Exception as exc:  # a bug or bad data: give the claim back, the command dies
        at = _complete(ctx, pace, slot)
        await outcomes.release(ctx, message, f"internal error: {type(exc).__name__}", at)
        raise
    except BaseException:
        _complete(ctx, pace, slot)
        raise
    at = _complete(ctx, pace, slot)
    await outcomes.record_sent(ctx, message, wamid, at)
    ctx.metrics.sends.labels("sent", "").inc()
    log.info("sent", wamid=wamid, attempts=message.attempts)
    return True


def _busy_wait(ctx: Context, account_id: str) -> float:
    """Seconds until the account's commands ahead of this one — in hand, and set aside before
    it — are through the send slots: set-aside commands come back one after another, in
    order, instead of all together again and again."""
    ahead = ctx.active[account_id] + ctx.aside[account_id]
    drain = ahead * ctx.slot_seconds / ctx.settings.send_concurrency
    return min(BUSY_MAX_SECONDS, max(BUSY_MIN_SECONDS, drain))


async def _call(ctx: Context, account: Account, body: dict[str, Any]) -> str:
    """The Cloud API call (the caller holds a slot of the concurrency semaphore)."""
    ctx.metrics.in_flight.inc()
    started = time.perf_counter()
    try:
        return await ctx.cloud.send(account.phone_number_id, account.token, body)
    finally:
        ctx.metrics.send_duration.observe(time.perf_counter() - started)
        ctx.metrics.in_flight.dec()


def _complete(ctx: Context, pace: AccountPace | None, slot: Slot) -> float:
    """Count the attempt at its completion time (after the answer: never before the receipt),
    and give the send slot back."""
    at = ctx.clock()
    if pace is not None:
        pace.window.complete(at)
    slot.release()
    return at


async def _on_error(
    ctx: Context, cmd: SendMessage, message: Message, account: Account,
    pace: AccountPace | None, exc: CloudApiError, at: float,
) -> None:
    reason = exc.readable()
    label = code_label(exc.code, network=exc.http_status is None)
    attempts = message.attempts or 1
    log.warning("send_error", error=reason, kind=exc.kind.value, attempts=attempts)
    if exc.kind is ErrorClass.AUTH:
        await ctx.accounts.disconnect(account.id, reason)
        await outcomes.record_failed(ctx, message, f"{NOT_CONNECTED}: {reason}", at=at)
        ctx.metrics.sends.labels("failed", label).inc()
    elif exc.kind is ErrorClass.FINAL or attempts >= ctx.settings.max_attempts:
        await outcomes.record_failed(ctx, message, reason, at=at)
        ctx.metrics.sends.labels("failed", label).inc()
    else:
        delay = ctx.settings.retry_base_seconds * 2 ** (attempts - 1)
        if exc.in_doubt:
            # Meta may have accepted it. Its status webhook echoes the message id, and ingest
            # then records the send; the retry re-reads the message and drops it if so.
            delay = max(delay, ctx.settings.send_in_doubt_seconds)
        if exc.kind is ErrorClass.PAIR_LIMIT and pace is not None:
            pace.back_off_recipient(message.to or "", at + delay)
        # Deferred first, released second: a crash in between leaves a stale claim, which the
        # sweeper reclaims; the other order could leave a Queued message with no command.
        await defer(ctx, cmd, account.id, until=at + delay, reason="retry")
        # The call spent the message's unit of this send day (no call straddles midnight):
        # a retry on the same day spends no second one.
        await outcomes.release(ctx, message, reason, at, unit_day=daily.day_of(at))
        ctx.metrics.sends.labels("retried", label).inc()
        ctx.metrics.retries.inc()

