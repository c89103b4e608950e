"""2. Send: a backlog of queued messages drained to ``Sent`` with pacing off, beside the raw
consume-and-ack rate of the same broker; then the same with accounts on every shard, by one
sender process and by three (the shard leases spread the eight shards over them)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.figures.common import (
    Context,
    forget_user,
    insert_clones,
    publish_sends,
    purge_queues,
    sim_send_times,
    template_message,
)
from bench.floor import consume_ack_rate
from bench.progress import step
from bench.results import Figure, Row, at_least, ratio_at_least
from bench.stack import Tenant
from shared import topology

SCALE_SENDERS = 3


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
        f"by one consumer (prefetch 100) acking each one ({floor_count:,} per repeat). "
        f"Scale-out: {ctx.n(1500, 250):,} messages on each of one account per shard (every "
        "shard has work), stored while no sender runs; the senders are started and their shard "
        "leases settle before the commands are published; per repeat one sender process drains "
        f"such a backlog, then {SCALE_SENDERS} processes drain another (up to {window} s each). "
        f"The {SCALE_SENDERS}-process rate is reported against the one-process rate as its "
        "floor; active = processes whose relay_sends_total grew."))
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
        *await scale_out(ctx, window),
    ]
    return figure


async def scale_out(ctx: Context, window: float) -> list[Row]:
    """One sender process, then three, each draining a backlog spread over every shard."""
    per_account = ctx.n(1500, 250)
    tenants: list[Tenant] = []
    one: list[float] = []
    three: list[float] = []
    active: list[float] = []
    try:
        templates = await shard_templates(ctx, tenants)
        for repeat in range(ctx.repeats):
            for count, rates in ((1, one), (SCALE_SENDERS, three)):
                step(f"scale-out {repeat + 1}/{ctx.repeats}: {count} sender(s), "
                     f"{per_account * len(templates):,} messages over {len(templates)} shards")
                rate, sends = await drain(ctx, templates, per_account, count, window)
                rates.append(rate)
                step(f"  {rate:,.0f} msg/s; sends per process {sends}")
                if count == SCALE_SENDERS:
                    active.append(float(sum(1 for n in sends if n > 0)))
    finally:
        ctx.no_senders()
        await purge_queues(ctx)
        for tenant in tenants:
            await forget_user(ctx, tenant.user_id)
    return [
        Row(f"{SCALE_SENDERS} sender processes on {ctx.stack.broker.shards} shards "
            "(floor: 1 process)", "msg/s", three, one, "≥ 1.5 times the floor",
            ratio_at_least(1.5)),
        Row(f"processes active (of {SCALE_SENDERS})", "procs", active, None,
            f"{SCALE_SENDERS} of {SCALE_SENDERS}", at_least(SCALE_SENDERS)),
    ]


async def shard_templates(ctx: Context, tenants: list[Tenant]) -> list[dict[str, Any]]:
    """One template message per shard, each of its own account (accounts hash onto shards)."""
    shards = ctx.stack.broker.shards
    by_shard: dict[int, tuple[Tenant, dict[str, Any]]] = {}
    while len(by_shard) < shards:
        tenant = await ctx.stack.tenant(accounts=4 * shards)
        tenants.append(tenant)
        for account in tenant.accounts:
            by_shard.setdefault(topology.shard_of(account["_id"], shards), (tenant, account))
    return [await template_message(ctx, *by_shard[s]) for s in range(shards)]


async def drain(ctx: Context, templates: list[dict[str, Any]], per_account: int, senders: int,
                window: float) -> tuple[float, list[int]]:
    """Store a backlog, start ``senders`` processes, let their leases settle, publish, and
    measure; return the rate and each process's sends."""
    ids = [await insert_clones(ctx, t, per_account, quiet=True) for t in templates]
    wanted = {i for batch in ids for i in batch}
    await ctx.senders(count=senders, pacing=False)
    keys = sorted(k for k in ctx.stack.procs if k.startswith("sender"))
    await ctx.stack.wait_for(lambda: settled(ctx, keys), timeout=30, what="shard leases")
    before = [await sender_metric(ctx, k, "relay_sends_total") for k in keys]
    await asyncio.gather(*(publish_sends(ctx, t, batch) for t, batch in zip(templates, ids,
                                                                          strict=True)))
    started = time.monotonic()
    while time.monotonic() < started + window:
        await asyncio.sleep(min(1.0, window / 4))
        if len(await sim_send_times(ctx, wanted)) >= len(wanted):
            break
    sends = [int(await sender_metric(ctx, k, "relay_sends_total") - b)
             for k, b in zip(keys, before, strict=True)]
    ctx.no_senders()
    await purge_queues(ctx)
    times = sorted((await sim_send_times(ctx, wanted)).values())
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")
    return rate, sends


async def settled(ctx: Context, keys: list[str]) -> bool:
    """Every shard leased and consumed, and (with several processes) each holds some."""
    owned = [await sender_metric(ctx, k, "relay_sender_shards_owned") for k in keys]
    return sum(owned) == ctx.stack.broker.shards and min(owned) > 0


async def sender_metric(ctx: Context, key: str, name: str) -> float:
    """The sum of a metric's samples on one sender process."""
    async with ctx.stack.http.get(ctx.stack.url(key) + "/metrics") as response:
        text = await response.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))
