"""2. Send: a backlog of queued messages drained to ``Sent`` with pacing off, beside the raw
consume-and-ack rate of the same broker."""

from __future__ import annotations

import asyncio
import time

from bench.figures.common import (
    Context,
    forget_user,
    insert_clones,
    purge_queues,
    sim_send_times,
    template_message,
)
from bench.floor import consume_ack_rate
from bench.progress import step
from bench.results import Figure, Row, at_least


async def run(ctx: Context) -> Figure:
    total = ctx.n(20_000, 1_000)
    window = ctx.n(40, 5)
    floor_count = ctx.n(5_000, 1_000)
    figure = Figure("send", "2. Send", (
        f"{total:,} messages of one account queued while no sender runs (stored as the gateway "
        "stores them, their send commands published to the account's shard). Then, per repeat, "
        f"one sender process (pacing off; the simulator's automatic statuses off) drains the "
        f"backlog for up to {window} s and is stopped; the next repeat continues on what is "
        "left. Rate = sends in the repeat between the first and the last receipt at the "
        "simulator. Floor: persistent messages consumed from a quorum queue of the same broker "
        f"by one consumer (prefetch 100) acking each one ({floor_count:,} per repeat)."))
    ctx.core()
    ctx.no_senders()
    await ctx.stack.sim("POST", "/_sim/reset")
    await ctx.stack.sim("POST", "/_sim/config", {"autoStatuses": False})
    tenant = await ctx.stack.tenant(accounts=1)
    rates, floors, counts = [], [], []
    try:
        template = await template_message(ctx, tenant, tenant.accounts[0])
        await purge_queues(ctx)
        ids = await insert_clones(ctx, template, total, label="queued messages", publish=True)
        wanted = set(ids)
        seen: set[str] = set()
        for repeat in range(ctx.repeats):
            step(f"send {repeat + 1}/{ctx.repeats}: {total - len(seen):,} queued; "
                 "starting the sender")
            await ctx.senders(count=1, pacing=False)
            started = time.monotonic()
            while time.monotonic() < started + window and len(seen) < total:
                await asyncio.sleep(min(2.0, window / 4))
                times = await sim_send_times(ctx, wanted)
                step(f"  {len(times):,}/{total:,} sent")
                if len(times) >= total:
                    break
            ctx.no_senders()
            times = await sim_send_times(ctx, wanted)
            fresh = sorted(t for mid, t in times.items() if mid not in seen)
            seen |= set(times)
            rate = (len(fresh) - 1) / (fresh[-1] - fresh[0]) if len(fresh) > 1 else float("nan")
            floor = await consume_ack_rate(ctx.stack.settings.amqp_url, floor_count)
            step(f"send {repeat + 1}/{ctx.repeats}: {len(fresh):,} sent, {rate:,.0f} msg/s; "
                 f"floor {floor:,.0f} msg/s")
            rates.append(rate)
            floors.append(floor)
            counts.append(float(len(fresh)))
            if len(seen) >= total:
                break
        stored = await ctx.stack.db.messages.count_documents(
            {"userId": tenant.user_id, "status": "Sent"})
        figure.notes.append(f"{len(seen):,} of {total:,} sent over the repeats; "
                            f"{stored:,} recorded Sent in the database")
    finally:
        ctx.no_senders()
        await ctx.stack.sim("POST", "/_sim/config", {"autoStatuses": True})
        await purge_queues(ctx)
        await forget_user(ctx, tenant.user_id)
    figure.rows = [
        Row("messages sent per second", "msg/s", rates, floors, "≥ 1,000/s", at_least(1000)),
        Row("messages sent in the repeat", "msgs", counts),
    ]
    return figure
