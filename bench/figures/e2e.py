"""3. End to end: accepted by the gateway → ``Read`` through the simulator at full speed."""
# ruff: noqa: RUF001 -- the typographic signs in the report text are meant

from __future__ import annotations

import time
from typing import Any

from bench.figures.common import (
    Context,
    forget_user,
    none_left,
    post_messages,
    sampling,
    settled_writes,
    sim_send_times,
    ts,
    until,
)
from bench.progress import step
from bench.results import Figure, Row
from bench.stats import percentile

ACCOUNTS = 8
UNFINISHED = {"$in": ["Queued", "Sent", "Delivered"]}



async def run(ctx: Context) -> Figure:
    total = ctx.n(600, 100)
    budget = ctx.n(90, 20)
    figure = Figure("e2e", "3. End to end", (
        f"{total:,} Text messages per repeat over {ACCOUNTS} accounts, posted by 50 clients; "
        "every service running (one sender, pacing off), the simulator answering at once and "
        "posting `sent`, `delivered`, `read` webhooks with no delay. Latency per message = "
        "`readAt − createdAt` (both stamped by Relay); throughput = messages Read / (last "
        f"`readAt` − first `createdAt`). Each repeat waits at most {budget} s for the last "
        "Read; a message not Read by then counts with its age at the deadline."))
    ctx.core()
    await ctx.senders(count=1, pacing=False)
    await ctx.stack.sim("POST", "/_sim/config", {"autoStatuses": True, "statusDelaySeconds": 0})
    rates, p50s, p99s, done = [], [], [], []
    commands, documents = [], []
    by_collection: dict[str, list[float]] = {}
    for repeat in range(ctx.repeats):
        tenant = await ctx.stack.tenant(accounts=ACCOUNTS)
        before = await settled_writes(ctx)
        async with sampling(ctx, "load"):
            load = await post_messages(ctx, tenant, total, keep_bodies=True)
            step(f"e2e {repeat + 1}/{ctx.repeats}: accepted {load.describe()}")
            query = {"userId": tenant.user_id, "status": UNFINISHED}

            async def finished(q: dict[str, Any] = query, ids: set[str] = load.ids) -> bool:
                if await none_left(ctx, q):
                    return True
                step(f"  {len(await sim_send_times(ctx, ids)):,}/{len(ids):,} sent; "
                     "waiting for every Read")
                return False

            await until(finished, timeout=budget, interval=1.0)
            cutoff = time.time()
        after = await settled_writes(ctx)
        spent = {c: (after[c][0] - before.get(c, (0.0, 0.0))[0],
                     after[c][1] - before.get(c, (0.0, 0.0))[1]) for c in after}
        commands.append(sum(c for c, _ in spent.values()) / total)
        documents.append(sum(d for _, d in spent.values()) / total)
        for collection, (_, written) in spent.items():
            by_collection.setdefault(collection, []).append(written / total)
        docs = await ctx.stack.db.messages.find(
            {"userId": tenant.user_id}, projection={"createdAt": 1, "readAt": 1, "status": 1},
        ).to_list()
        read = [d for d in docs if d.get("status") == "Read" and d.get("readAt")]
        ages = [((ts(d["readAt"]) if d in read else cutoff) - ts(d["createdAt"])) * 1000
                for d in docs]
        if read:
            first = min(ts(d["createdAt"]) for d in read)
            last = max(ts(d["readAt"]) for d in read)
            rates.append(len(read) / max(last - first, 1e-3))
        p50s.append(percentile(ages, 50))
        p99s.append(percentile(ages, 99))
        done.append(100.0 * len(read) / max(len(docs), 1))
        step(f"e2e {repeat + 1}/{ctx.repeats}: {len(read):,}/{len(docs):,} Read, "
             f"{rates[-1] if rates else float('nan'):,.0f} msg/s, p50 {p50s[-1]:.0f} ms, "
             f"p99 {p99s[-1]:.0f} ms")
        await forget_user(ctx, tenant.user_id)
    figure.rows = [
        Row("accept → Read throughput", "msg/s", rates),
        Row("accept → Read p50", "ms", p50s),
        Row("accept → Read p99", "ms", p99s),
        Row("messages Read within the budget", "%", done),
        Row("database write commands per message", "writes", commands),
        Row("documents written per message", "docs", documents),
    ]
    if by_collection:
        parts = ", ".join(f"{c} {sorted(v)[len(v) // 2]:.2f}"
                          for c, v in sorted(by_collection.items(), key=lambda i: -max(i[1])))
        figure.notes.append(
            "Writes counted by every service's own client (`relay_db_write_commands_total`, "
            "`relay_db_documents_written_total` on /metrics), scraped before the load and once "
            f"the services fell quiet after it, over every message of the repeat. Documents "
            f"written per message by collection (median): {parts}.")
    return figure

