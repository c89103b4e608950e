"""Deferring a command through the delay queues instead of holding it (no head-of-line blocking).

A deferred command carries ``x-relay-not-before`` (epoch ms); the delay levels bring it back at
that time (rounded up to 50 ms), and one that comes back early anyway (a wait longer than the
levels reach) is deferred again for the rest. ``x-relay-planned``
marks a command whose pacing slot is already planned: on return it goes straight to the gate.
"""

from __future__ import annotations

from typing import Any

from sender.context import Context

# ASIDE and PLANNED are re-exported for the send handler, which sets and reads them.
from shared.headers import ASIDE as ASIDE
from shared.headers import ATTEMPT, NOT_BEFORE, not_before_ms
from shared.headers import PLANNED as PLANNED
from shared.models import Model

# Waits up to this long are held in memory (a sub-bucket remainder); longer ones are deferred.
HOLD_SECONDS = 0.1


def not_before(headers: dict[str, Any]) -> float:
    """Epoch seconds; carried as integer milliseconds (AMQP floats may be single precision)."""
    try:
        return int(headers.get(NOT_BEFORE) or 0) / 1000
    except (TypeError, ValueError):
        return 0.0


def relay_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """Only Relay's own headers travel on (not the broker's ``x-death`` history)."""
    return {k: v for k, v in headers.items() if k in (NOT_BEFORE, PLANNED, ATTEMPT, ASIDE)}


async def defer(
    ctx: Context, command: Model, account_id: str, *, until: float, reason: str,
    headers: dict[str, Any] | None = None, planned: bool = False, aside: bool = False,
) -> None:
    """Publish ``command`` to come back to its shard at ``until`` (confirmed before the ack)."""
    carried = relay_headers(headers or {})
    carried[NOT_BEFORE] = not_before_ms(until)
    if planned:
        carried[PLANNED] = 1
    else:
        carried.pop(PLANNED, None)
    if aside:
        carried[ASIDE] = 1
    else:
        carried.pop(ASIDE, None)
    delay_ms = max(0.0, (until - ctx.clock()) * 1000)
    await ctx.broker.defer(ctx.route(account_id), command.to_json(), delay_ms=delay_ms,
                           headers=carried)
    ctx.metrics.deferrals.labels(reason).inc()


async def wait_or_defer(
    ctx: Context, command: Model, account_id: str, headers: dict[str, Any], reason: str
) -> bool:
    """Honour ``x-relay-not-before``: True if the command may go on now (after a short hold)."""
    remaining = not_before(headers) - ctx.clock()
    if remaining > HOLD_SECONDS:
        await defer(ctx, command, account_id, until=not_before(headers), reason=reason,
                    headers=headers, planned=bool(headers.get(PLANNED)),
                    aside=bool(headers.get(ASIDE)))
        return False
    if remaining > 0:
        await ctx.sleep(remaining)
    return True
