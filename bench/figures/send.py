"""2. Send: a backlog of queued messages drained to ``Sent`` with pacing off, beside the raw
consume-and-ack rate of the same broker."""

from __future__ import annotations

from bench.figures.common import (
    Context,
    count,
    forget_user,
    insert_clones,
    publish_sends,
    purge_queues,
    template_message,
)
from bench.floor import consume_ack_rate
from bench.progress import step
from bench.results import Figure, Row, at_least

SENT_OR_LATER = {"$in": ["Sent", "Delivered", "Read"]}


async def run(ctx: Context) -> Figure:
    total = ctx.n(20_000, 2_000)
    figure = Figure("send", "2. Send", (
        f"{total:,} messages of one account queued while no sender runs (stored as the gateway "
        "stores them, then their send commands published to the account's shard), then one "
        "sender process started with pacing off and the simulator's automatic statuses off. "
        "Rate = messages between the first and the last `sentAt`. Floor: the same number of "
        "persistent messages consumed from a quorum queue of the same broker by one consumer "
        "(prefetch 100) that acks each one."))
    ctx.core()
    ctx.no_senders()
    await ctx.stack.sim("POST", "/_sim/config", {"autoStatuses": False})
    rates, floors, drains = [], [], []
    try:
        for repeat in range(ctx.repeats):
            tenant = await ctx.stack.tenant(accounts=1)
            template = await template_message(ctx, tenant, tenant.accounts[0])
            await purge_queues(ctx)
            ids = await insert_clones(ctx, template, total, label="queued messages")
            await publish_sends(ctx, template, ids)
            step(f"send {repeat + 1}/{ctx.repeats}: {total:,} queued; starting the sender")
            await ctx.senders(count=1, pacing=False)
            query = {"userId": tenant.user_id, "status": SENT_OR_LATER}
            await ctx.stack.wait_for(lambda q=query: _all(ctx, q, total), timeout=600,
                                     what=f"{total} messages Sent", interval=1.0)
            first, last = await _span(ctx, tenant.user_id, template["_id"])
            rate = (total - 1) / max(last - first, 1e-3)
            ctx.no_senders()
            floor = await consume_ack_rate(ctx.stack.settings.amqp_url, total)
            step(f"send {repeat + 1}/{ctx.repeats}: {rate:,.0f} msg/s; floor {floor:,.0f} msg/s")
            rates.append(rate)
            floors.append(floor)
            drains.append(last - first)
            await forget_user(ctx, tenant.user_id)
    finally:
        ctx.no_senders()
        await ctx.stack.sim("POST", "/_sim/config", {"autoStatuses": True})
    figure.rows = [
        Row("messages Sent per second", "msg/s", rates, floors, "≥ 1,000/s", at_least(1000)),
        Row("time to drain the backlog", "s", drains),
    ]
    return figure


async def _all(ctx: Context, query: dict[str, object], total: int) -> bool:
    done = await count(ctx, query)
    step(f"  {done:,}/{total:,} Sent")
    return done >= total


async def _span(ctx: Context, user_id: str, skip_id: str) -> tuple[float, float]:
    pipeline = [
        {"$match": {"userId": user_id, "_id": {"$ne": skip_id}}},
        {"$group": {"_id": None, "first": {"$min": "$sentAt"}, "last": {"$max": "$sentAt"}}},
    ]
    rows = await (await ctx.stack.db.messages.aggregate(pipeline)).to_list()
    return _ts(rows[0]["first"]), _ts(rows[0]["last"])


def _ts(value: object) -> float:
    from datetime import datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.timestamp()
