"""The daily limit where it is measured: what the Cloud API receives on each UTC day (invariant 5).

The gateway's ``daily_usage`` counts *acceptances* per UTC day; that cannot hold the limit on
sends alone (a message accepted today may be scheduled for tomorrow, a retry is a second call,
a backlog spills over midnight). So the sender counts its own: one unit of the account's *send
day* — ``daily_sends`` ``{_id: "<accountId>:<YYYY-MM-DD>", count}``, behind the
:class:`sender.ports.DailySendsPort` — is taken right before every Cloud API send call, on the
sender's clock, by an atomic conditional increment that never passes ``dailyLimit`` (however
many senders take units at once).

- **Every message spends one unit of each send day it is called on**, whatever the answer: a
  refused or timed-out call may still have reached Meta and counted there. Its retries on the
  same day spend none (the message holds that day's unit: ``unitDay``, written with the release
  of its claim), so what the gateway accepted within today's limit is not crowded out by
  retries; a retry on a later day spends a unit of that day. A call that is not made spends
  none: the unit is taken after the claim and the payload (a lost claim, pacing, a refused
  media file take nothing).
- **A full day defers, never fails**: the command goes back through the delay queues to the next
  UTC midnight, the claim is given back and its attempt not counted, the message stays
  ``Queued``. The process remembers the account's full day (:meth:`Context.day_full`), so the
  account's other commands are deferred before they are planned or read.
- **No call straddles midnight**: a call started at ``t`` reaches Meta by ``t`` plus the call
  timeout (``RELAY_SEND_TIMEOUT_SECONDS``), so none starts in that last stretch of a day — it
  waits for midnight and takes a unit of the new day. Every call is therefore received on the
  day its unit counts (clocks agreeing to well under that margin, NTP).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sender.accounts import Account
from sender.context import Context
from shared.messages import Message

DAY_FULL = "daily_limit"
DAY_END = "day_end"


def day_of(at: float) -> str:
    """The UTC day of a clock reading, ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def next_midnight(at: float) -> float:
    """The first instant of the UTC day after the one ``at`` is in."""
    day = datetime.fromtimestamp(at, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day + timedelta(days=1)).timestamp()


def send_day_id(account_id: str, day: str) -> str:
    """The ``daily_sends`` document of an account's send day."""
    return f"{account_id}:{day}"


class NotToday(Exception):
    """No Cloud API call now: come back at ``until`` (``reason`` is the deferral's label)."""

    def __init__(self, until: float, reason: str) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason


async def take_unit(ctx: Context, account: Account, message: Message) -> None:
    """Spend one unit of the account's current send day for ``message``, unless it already
    holds one of this day (a retry), or raise :class:`NotToday`."""
    now = ctx.clock()
    midnight = next_midnight(now)
    if midnight - now < ctx.settings.send_timeout_seconds:
        raise NotToday(midnight, DAY_END)
    day = day_of(now)
    if (message.model_extra or {}).get("unitDay") == day:
        return
    limit = account.daily_limit
    if limit <= 0 or not await ctx.daily_sends.take(account.id, day, limit):
        ctx.mark_day_full(account.id, day, limit)
        raise NotToday(midnight, DAY_FULL)
    if midnight - ctx.clock() < ctx.settings.send_timeout_seconds:
        # The take itself ran into the day's last stretch: this unit is not used.
        await ctx.daily_sends.give_back(account.id, day)
        raise NotToday(midnight, DAY_END)


def full_until(ctx: Context, account: Account) -> float | None:
    """When the account's day, known full in this process, is over (None: not known full)."""
    now = ctx.clock()
    if ctx.day_full(account.id, day_of(now), account.daily_limit):
        return next_midnight(now)
    return None
