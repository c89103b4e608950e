"""5. Fairness: one account with a huge backlog must not hold up another account's message."""
# ruff: noqa: RUF001 -- the typographic signs in the report text are meant

from __future__ import annotations

import time
from typing import Any

from bench.figures.common import (
    Context,
    forget_user,
    insert_clones,
    purge_queues,
    sampling,
    template_message,
    ts,
)
from bench.progress import step
from bench.results import Figure, Row, worst_at_most
from bench.stack import Tenant
from shared import topology

BACKLOG_RATE = 600  # per minute: the busy account sends steadily while its backlog waits
PROBES = 3
PATIENCE = 60.0  # seconds a probe may wait before it counts as stuck



async def _same_shard_tenant(ctx: Context, busy_account: str) -> Tenant:
    """A second tenant whose account lands on the busy account's shard (the worst case)."""
    shards = ctx.stack.settings.send_shards
    wanted = topology.shard_of(busy_account, shards)
    for _ in range(200):
        tenant = await ctx.stack.tenant(accounts=1)
        if topology.shard_of(tenant.accounts[0]["_id"], shards) == wanted:
            return tenant
    raise RuntimeError("no account on the busy shard after 200 tries")


async def _probe(ctx: Context, tenant: Tenant) -> float:
    """Post one message for ``tenant``; seconds from ``createdAt`` to ``sentAt`` (NaN: never)."""
    async with ctx.stack.http.post(
        ctx.stack.url("gateway") + "/api/v1/messages", headers=tenant.auth,
        json={"whatsappAccountId": tenant.accounts[0]["_id"], "to": "+15559990000",
              "type": "Text", "content": "am I stuck behind the campaign?"},
    ) as response:
        body = await response.json()
        if response.status != 202:
            raise RuntimeError(f"the probe was refused: {response.status} {body}")
        message_id = body["data"]["id"]

    async def sent() -> dict[str, Any] | None:
        return await ctx.stack.db.messages.find_one(
            {"_id": message_id, "status": {"$in": ["Sent", "Delivered", "Read"]}})

    try:
        doc = await ctx.stack.wait_for(sent, timeout=PATIENCE, what="the probe Sent",
                                       interval=0.05)
    except TimeoutError:
        return float("nan")
    return ts(doc["sentAt"]) - ts(doc["createdAt"])


async def run(ctx: Context) -> Figure:
    backlog = ctx.n(100_000, 3_000)
    figure = Figure("fairness", "5. Fairness", (
        f"Account A gets a backlog of {backlog:,} queued messages (pacing on, A at "
        f"{BACKLOG_RATE}/min; stored straight into MongoDB, their send commands published as "
        "the gateway publishes them, `shared.pacing.publish_send`: beyond the next minute of "
        f"sends, into the delay queues); then, {PROBES} times, account B — on the same send "
        "shard as A, the worst case — sends one message through the gateway. Latency = B's "
        "`sentAt − createdAt`. The sender's memory during this is figure 8's backlog row."))
    ctx.core()
    await ctx.senders(count=1, pacing=True)
    busy = await ctx.stack.tenant(accounts=1, rate_per_minute=BACKLOG_RATE)
    other = await _same_shard_tenant(ctx, busy.accounts[0]["_id"])
    latencies: list[float] = []
    try:
        template = await template_message(ctx, busy, busy.accounts[0])
        started = time.perf_counter()
        await insert_clones(ctx, template, backlog, label="backlog messages", publish=True,
                            batch=2000, rate=BACKLOG_RATE)
        step(f"fairness: {backlog:,} messages stored and their send commands published in "
             f"{time.perf_counter() - started:.1f} s")
        for probe in range(PROBES):
            async with sampling(ctx, "backlog"):
                latencies.append(await _probe(ctx, other))
            step(f"fairness {probe + 1}/{PROBES}: B's message Sent after {latencies[-1]:.3f} s; "
                 f"sender RSS {ctx.stack.procs['sender'].rss_mb():.0f} MiB")
    finally:
        ctx.no_senders()
        await purge_queues(ctx)
        await forget_user(ctx, busy.user_id)
        await forget_user(ctx, other.user_id)
    if any(v != v for v in latencies):
        figure.notes.append(f"a probe not Sent within {PATIENCE:.0f} s counts as {PATIENCE:.0f} s")
    figure.rows = [
        Row("other account's message: accept → Sent", "s",
            [v if v == v else PATIENCE for v in latencies], None, "≤ 1 s", worst_at_most(1.0)),
    ]
    return figure
