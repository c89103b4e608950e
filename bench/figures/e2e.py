"""3. End to end: accepted by the gateway → ``Read`` through the simulator at full speed."""
# ruff: noqa: RUF001 -- the typographic signs in the report text are meant

from __future__ import annotations

from datetime import datetime
from typing import Any

from bench.figures.common import Context, count, forget_user, post_messages, sampling
from bench.progress import step
from bench.results import Figure, Row
from bench.stats import percentile

ACCOUNTS = 8


def _ts(value: Any) -> float:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return float(value.timestamp())


async def run(ctx: Context) -> Figure:
    total = ctx.n(5_000, 800)
    figure = Figure("e2e", "3. End to end", (
        f"{total:,} Text messages per repeat over {ACCOUNTS} accounts, posted by 50 clients; "
        "every service running (one sender, pacing off), the simulator answering at once and "
        "posting `sent`, `delivered`, `read` webhooks with no delay. Latency per message = "
        "`readAt − createdAt` (both stamped by Relay); throughput = messages / (last `readAt` − "
        "first `createdAt`)."))
    ctx.core()
    await ctx.senders(count=1, pacing=False)
    await ctx.stack.sim("POST", "/_sim/config", {"autoStatuses": True, "statusDelaySeconds": 0})
    rates, p50s, p99s = [], [], []
    for repeat in range(ctx.repeats):
        tenant = await ctx.stack.tenant(accounts=ACCOUNTS)
        async with sampling(ctx, "load"):
            load = await post_messages(ctx, tenant, total)
            step(f"e2e {repeat + 1}/{ctx.repeats}: accepted {load.describe()}")
            query = {"userId": tenant.user_id, "status": "Read"}
            try:
                await ctx.stack.wait_for(lambda q=query, n=load.ok: _progress(ctx, q, n),
                                         timeout=300, what=f"{load.ok} messages Read",
                                         interval=0.5)
            except TimeoutError as exc:
                figure.notes.append(f"repeat {repeat + 1}: {exc}")
        docs = await ctx.stack.db.messages.find(
            {"userId": tenant.user_id, "status": "Read"},
            projection={"createdAt": 1, "readAt": 1},
        ).to_list()
        latencies = [(_ts(d["readAt"]) - _ts(d["createdAt"])) * 1000 for d in docs]
        first = min(_ts(d["createdAt"]) for d in docs)
        last = max(_ts(d["readAt"]) for d in docs)
        rates.append(len(docs) / max(last - first, 1e-3))
        p50s.append(percentile(latencies, 50))
        p99s.append(percentile(latencies, 99))
        step(f"e2e {repeat + 1}/{ctx.repeats}: {len(docs):,} Read, {rates[-1]:,.0f} msg/s, "
             f"p50 {p50s[-1]:.0f} ms, p99 {p99s[-1]:.0f} ms")
        await forget_user(ctx, tenant.user_id)
    figure.rows = [
        Row("accept → Read throughput", "msg/s", rates),
        Row("accept → Read p50", "ms", p50s),
        Row("accept → Read p99", "ms", p99s),
    ]
    return figure


async def _progress(ctx: Context, query: dict[str, Any], total: int) -> bool:
    done = await count(ctx, query)
    step(f"  {done:,}/{total:,} Read")
    return done >= total
