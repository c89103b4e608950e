"""1. Accept: ``POST /api/v1/messages`` at 50 clients, beside a bare insert-and-publish floor."""
# ruff: noqa: RUF001 -- the typographic signs in the report text are meant

from __future__ import annotations

import json

from bench.figures.common import (
    Context,
    add_bench_template,
    forget_user,
    post_messages,
    purge_queues,
    start_floor,
    template_requests,
    text_requests,
)
from bench.loadgen import fire
from bench.progress import step
from bench.results import Figure, Row, at_least, at_most, ratio_at_least

CLIENTS = 50


def floor_requests(count: int) -> list[dict[str, object]]:
    return [
        {"method": "POST", "path": "/messages", "headers": {"Content-Type": "application/json"},
         "body": json.dumps({"whatsappAccountId": "a", "to": f"+1555{i % 1000:07d}",
                             "type": "Text", "content": f"bench message {i}"})}
        for i in range(count)
    ]


async def run(ctx: Context) -> Figure:
    count = ctx.n(1_500, 300)
    figure = Figure("accept", "1. Accept", (
        f"{count:,} `POST /api/v1/messages` (Text, 1,000 recipients) per repeat from {CLIENTS} "
        "concurrent keep-alive clients in a separate process; the sender is stopped so only "
        "the gateway works. Floor: a bare aiohttp handler (`bench/floor.py`) doing one "
        "`insert_one` and one confirmed, persistent, mandatory publish to a quorum queue per "
        "request, on the same database server and broker. Gateway and floor alternate within "
        "each repeat. The per-key API rate limit is raised out of the way. Template: the same "
        "count of two-parameter Template sends (checked against the account's registry, "
        "rendered) right after the Text ones; its floor column is the Text run of the repeat."))
    ctx.core()
    ctx.no_senders()
    stack = ctx.stack
    start_floor(ctx)
    tenant = await stack.tenant(accounts=1)
    await add_bench_template(ctx, tenant)
    try:
        await fire(stack.url("floor"), floor_requests(300), concurrency=CLIENTS,
                   workdir=ctx.workdir)
        await post_messages(ctx, tenant, 300)
        rates, p50, p99, f_rates, f_p50, f_p99 = [], [], [], [], [], []
        t_rates, t_p50 = [], []
        for repeat in range(ctx.repeats):
            base = await fire(stack.url("floor"), floor_requests(count), concurrency=CLIENTS,
                              workdir=ctx.workdir)
            step(f"accept {repeat + 1}/{ctx.repeats} floor:   {base.describe()}")
            load = await fire(stack.url("gateway"), text_requests(tenant, count),
                              concurrency=CLIENTS, workdir=ctx.workdir)
            step(f"accept {repeat + 1}/{ctx.repeats} gateway: {load.describe()}")
            if load.ok < len(load.latencies):
                figure.notes.append(f"repeat {repeat + 1}: answers {load.statuses}")
            rates.append(load.throughput)
            p50.append(load.pct(50))
            p99.append(load.pct(99))
            f_rates.append(base.throughput)
            f_p50.append(base.pct(50))
            f_p99.append(base.pct(99))
            templated = await fire(stack.url("gateway"), template_requests(tenant, count),
                                   concurrency=CLIENTS, workdir=ctx.workdir)
            step(f"accept {repeat + 1}/{ctx.repeats} template: {templated.describe()}")
            if templated.ok < len(templated.latencies):
                figure.notes.append(f"repeat {repeat + 1}: template answers {templated.statuses}")
            t_rates.append(templated.throughput)
            t_p50.append(templated.pct(50))
    finally:
        stack.stop("floor")
        await purge_queues(ctx)
        await forget_user(ctx, tenant.user_id)
    ok = at_least(1000)
    figure.rows = [
        Row("throughput", "msg/s", rates, f_rates, "≥ 1,000/s and ≥ 0.5× floor",
            lambda r: ok(r) and ratio_at_least(0.5)(r)),
        Row("latency p50", "ms", p50, f_p50),
        Row("latency p99", "ms", p99, f_p99, "≤ 50 ms", at_most(50)),
        Row("Template throughput (floor column: Text)", "msg/s", t_rates, rates,
            "cost ≤ 1.2× Text: ≥ 0.83× its rate", ratio_at_least(1 / 1.2)),
        Row("Template latency p50 (floor column: Text)", "ms", t_p50, p50),
    ]
    return figure
