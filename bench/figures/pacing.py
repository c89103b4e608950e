"""4. Pacing: many accounts at 60/min across 2 sender processes; no 60 s window over the limit,
and the allowed rate used."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from bench.figures.common import (
    Context,
    clones,
    forget_user,
    publish_sends,
    purge_queues,
    template_message,
)
from bench.progress import step
from bench.results import Figure, Row, at_least, worst_at_most
from bench.stats import allowed_in_span, max_in_window

RATE = 60


async def _queue(ctx: Context, accounts: int, per_account: int) -> tuple[Any, dict[str, str]]:
    """``per_account`` queued messages for each of ``accounts`` new accounts: one accepted by
    the gateway as the shape, the rest stored and published directly, all accounts at once."""
    tenant = await ctx.stack.tenant(accounts=accounts, rate_per_minute=RATE)
    template = await template_message(ctx, tenant, tenant.accounts[0])
    await ctx.stack.db.messages.delete_one({"_id": template["_id"]})
    shapes = [{**template, "whatsappAccountId": a["_id"]} for a in tenant.accounts]
    ids: dict[str, list[str]] = {}
    for shape in shapes:
        docs = clones({**shape, "dispatched": True}, 0, per_account)
        ids[shape["whatsappAccountId"]] = [d["_id"] for d in docs]
        await ctx.stack.db.messages.insert_many(docs, ordered=False)
    await purge_queues(ctx)
    for shape in shapes:
        await publish_sends(ctx, shape, ids[shape["whatsappAccountId"]])
    return tenant, {a["phoneNumberId"]: a["_id"] for a in tenant.accounts}


def measure(sends: list[dict[str, Any]], phones: dict[str, str],
            span: float) -> tuple[int, float, int, float]:
    """(largest count in any 60 s window, utilisation of the allowed count in each account's
    first ``span`` seconds, sends seen, the latest first send)."""
    by_phone: dict[str, list[float]] = {p: [] for p in phones}
    for send in sends:
        if send.get("phoneNumberId") in by_phone and send.get("type") != "read":
            by_phone[send["phoneNumberId"]].append(float(send["at"]))
    worst, used, seen, latest_first = 0, 0, 0, 0.0
    for times in by_phone.values():
        if not times:
            latest_first = float("inf")
            continue
        first = min(times)
        latest_first = max(latest_first, first)
        worst = max(worst, max_in_window(times))
        used += sum(1 for t in times if t < first + span)
        seen += len(times)
    return worst, used / (allowed_in_span(RATE, span) * len(phones)), seen, latest_first


async def run(ctx: Context) -> Figure:
    accounts = ctx.n(100, 5)
    span = ctx.n(120, 3)
    per_account = allowed_in_span(RATE, span) + ctx.n(30, 10)
    figure = Figure("pacing", "4. Pacing", (
        f"{accounts} accounts at {RATE}/min, each with {per_account} queued messages (more than "
        f"it may send), drained for {span} s by 2 sender processes with pacing on. From the "
        "simulator's receipt times of every send: the largest count of any account in any "
        f"60 s window, and utilisation = each account's sends in the {span} s from its first "
        f"send / the most the rule allows in {span} s ({RATE} per started minute), summed."
        + (" Quick mode: the run is shorter than the 60 s window, so utilisation measures only "
           "the first burst and is not comparable with the target." if ctx.quick else "")))
    ctx.core()
    worst_windows, utilisation = [], []
    for repeat in range(ctx.repeats):
        ctx.no_senders()
        await purge_queues(ctx)
        await ctx.stack.sim("POST", "/_sim/reset")
        await ctx.stack.sim("POST", "/_sim/config", {"autoStatuses": False})
        tenant, phones = await _queue(ctx, accounts, per_account)
        step(f"pacing {repeat + 1}/{ctx.repeats}: {accounts * per_account:,} queued over "
             f"{accounts} accounts; 2 senders for {span} s")
        started = time.time()
        await ctx.senders(count=2, pacing=True)
        latest_first = float("inf")
        for tick in itertools.count():
            now = time.time()
            if now >= min(latest_first + span + 1, started + span + 60):
                break
            await asyncio.sleep(min(5.0, max(1.0, started + span + 1 - now)))
            sends = (await ctx.stack.sim("GET", "/_sim/sends"))["sends"]
            worst, used, seen, latest_first = measure(sends, phones, span)
            if tick % 5 == 0 or time.time() >= started + span:
                step(f"  {time.time() - started:4.0f} s: {seen:,} sends, worst window {worst}")
        worst_windows.append(worst)
        utilisation.append(used * 100)
        step(f"pacing {repeat + 1}/{ctx.repeats}: worst 60 s window {worst}, "
             f"utilisation {used:.1%}")
        ctx.no_senders()
        await purge_queues(ctx)
        await forget_user(ctx, tenant.user_id)
    await ctx.stack.sim("POST", "/_sim/config", {"autoStatuses": True})
    figure.rows = [
        Row("largest count in any 60 s window (any account)", "msgs", worst_windows, None,
            f"≤ {RATE}", worst_at_most(RATE)),
        Row("utilisation of the allowed rate", "%", utilisation, None, "≥ 98 %",
            None if ctx.quick else at_least(98)),
    ]
    return figure
