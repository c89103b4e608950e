"""6. Webhooks: signed status POSTs to ingest from 50 clients; events/s and HTTP p50/p99."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from typing import Any

from bench.figures.common import Context, count, forget_user, post_messages
from bench.loadgen import fire
from bench.progress import step
from bench.results import Figure, Row, at_least, at_most
from bench.stack import Tenant

CLIENTS = 50


def status_body(phone_number_id: str, wamid: str, status: str, recipient: str) -> bytes:
    """Meta's status webhook for one status of one message."""
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "bench-waba", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
            "statuses": [{"id": wamid, "status": status, "timestamp": str(int(time.time())),
                          "recipient_id": recipient}],
        }}]}]}
    return json.dumps(payload, separators=(",", ":")).encode()


def signed(secret: str, body: bytes) -> dict[str, Any]:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"method": "POST", "path": "/webhooks/whatsapp", "body": body.decode(),
            "headers": {"Content-Type": "application/json",
                        "X-Hub-Signature-256": f"sha256={signature}"}}


async def _sent_messages(ctx: Context, tenant: Tenant, total: int) -> list[dict[str, Any]]:
    load = await post_messages(ctx, tenant, total)
    step(f"webhooks: {load.describe()}")
    query = {"userId": tenant.user_id, "status": "Sent", "whatsappMessageId": {"$type": "string"}}
    await ctx.stack.wait_for(lambda: _at_least(ctx, query, load.ok), timeout=300,
                             what="messages Sent", interval=0.5)
    return await ctx.stack.db.messages.find(
        query, projection={"whatsappMessageId": 1, "to": 1}).to_list()


async def _at_least(ctx: Context, query: dict[str, Any], total: int) -> bool:
    done = await count(ctx, query)
    step(f"  {done:,}/{total:,} Sent")
    return done >= total


async def run(ctx: Context) -> Figure:
    per_repeat = ctx.n(2_500, 500)
    figure = Figure("webhooks", "6. Webhooks", (
        f"{2 * per_repeat:,} signed status webhooks per repeat (`delivered` and `read` for "
        f"{per_repeat:,} Sent messages, one status per POST, shuffled) from {CLIENTS} concurrent "
        "clients to ingest's `POST /webhooks/whatsapp`. Events/s = POSTs answered 200 per "
        "second of the run; applied/s = status changes recorded in the database per second, "
        "from the first POST until every message is Read."))
    ctx.core()
    await ctx.senders(count=1, pacing=False)
    await ctx.stack.sim("POST", "/_sim/config", {"autoStatuses": False})
    tenant = await ctx.stack.tenant(accounts=1)
    try:
        messages = await _sent_messages(ctx, tenant, per_repeat * ctx.repeats)
        phone = tenant.accounts[0]["phoneNumberId"]
        secret = ctx.stack.settings.whatsapp_app_secret
        rates, applied, p50s, p99s = [], [], [], []
        for repeat in range(ctx.repeats):
            chunk = messages[repeat * per_repeat:(repeat + 1) * per_repeat]
            requests = [signed(secret, status_body(phone, m["whatsappMessageId"], s,
                                                   m["to"].lstrip("+")))
                        for m in chunk for s in ("delivered", "read")]
            random.Random(repeat).shuffle(requests)
            started = time.perf_counter()
            load = await fire(ctx.stack.url("ingest"), requests, concurrency=CLIENTS,
                              workdir=ctx.workdir)
            step(f"webhooks {repeat + 1}/{ctx.repeats}: {load.describe()}")
            ids = [m["_id"] for m in chunk]
            query = {"_id": {"$in": ids}, "status": "Read"}
            try:
                await ctx.stack.wait_for(lambda q=query, n=len(ids): _read(ctx, q, n), timeout=300,
                                         what="every message Read", interval=0.25)
                applied.append(len(requests) / (time.perf_counter() - started))
            except TimeoutError as exc:
                figure.notes.append(f"repeat {repeat + 1}: {exc}")
            rates.append(load.throughput)
            p50s.append(load.pct(50))
            p99s.append(load.pct(99))
    finally:
        await ctx.stack.sim("POST", "/_sim/config", {"autoStatuses": True})
        await forget_user(ctx, tenant.user_id)
    figure.rows = [
        Row("status events accepted", "events/s", rates, None, "≥ 2,000/s", at_least(2000)),
        Row("status events applied", "events/s", applied),
        Row("HTTP p50", "ms", p50s, None, "≤ 25 ms", at_most(25)),
        Row("HTTP p99", "ms", p99s, None, "≤ 250 ms", at_most(250)),
    ]
    return figure


async def _read(ctx: Context, query: dict[str, Any], total: int) -> bool:
    done = await count(ctx, query)
    step(f"  {done:,}/{total:,} Read")
    return done >= total
