"""6. Webhooks: signed status POSTs to ingest from 50 clients; events/s and HTTP p50/p99."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
import uuid
from typing import Any

from bench.figures.common import (
    Context,
    forget_user,
    insert_clones,
    none_left,
    purge_queues,
    start_floor,
    template_message,
    until,
)
from bench.loadgen import fire
from bench.progress import step
from bench.results import Figure, Row, at_least, at_most
from bench.stack import Tenant
from shared.models import utcnow

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
    """``total`` messages in status Sent with a ``wamid``, stored as the sender leaves them."""
    template = await template_message(ctx, tenant, tenant.accounts[0])
    now = utcnow()
    await insert_clones(ctx, template, total, label="Sent messages", fields={
        "status": "Sent", "previousStatus": "Queued", "version": template["version"] + 1,
        "sentAt": now, "attempts": 1,
        "whatsappMessageId": lambda _: f"wamid.bench{uuid.uuid4().hex}",
    })
    docs = await ctx.stack.db.messages.find(
        {"userId": tenant.user_id, "status": "Sent"},
        projection={"whatsappMessageId": 1, "to": 1}).to_list()
    return [d for d in docs if d["_id"] != template["_id"]]


async def run(ctx: Context) -> Figure:
    per_repeat = ctx.n(500, 150)
    budget = ctx.n(60, 20)
    figure = Figure("webhooks", "6. Webhooks", (
        f"{2 * per_repeat:,} signed status webhooks per repeat (`delivered` and `read` for "
        f"{per_repeat:,} Sent messages, one status per POST, shuffled) from {CLIENTS} concurrent "
        "clients to ingest's `POST /webhooks/whatsapp`. Events/s = POSTs answered 200 per "
        "second of the run; applied/s = status events per second from the first POST until "
        f"every message is Read in the database (at most {budget} s). The messages are stored "
        "as Sent straight into MongoDB (the sender is stopped), so only ingest works. Floor: the "
        "same POSTs to a bare aiohttp handler that only publishes the body, confirmed, to a "
        "quorum queue of the same broker (`bench/floor.py`, `POST /publish`)."))
    ctx.core()
    ctx.no_senders()
    await purge_queues(ctx)
    await ctx.stack.sim("POST", "/_sim/config", {"autoStatuses": False})
    secret = ctx.stack.settings.whatsapp_app_secret
    rates, applied, p50s, p99s = [], [], [], []
    f_rates, f_p50s, f_p99s = [], [], []
    floor = start_floor(ctx)
    try:
        for repeat in range(ctx.repeats):
            tenant = await ctx.stack.tenant(accounts=1)
            messages = await _sent_messages(ctx, tenant, per_repeat)
            phone = tenant.accounts[0]["phoneNumberId"]
            requests = [signed(secret, status_body(phone, m["whatsappMessageId"], s,
                                                   m["to"].lstrip("+")))
                        for m in messages for s in ("delivered", "read")]
            random.Random(repeat).shuffle(requests)
            base = await fire(floor, [{**r, "path": "/publish"} for r in requests],
                              concurrency=CLIENTS, workdir=ctx.workdir)
            step(f"webhooks {repeat + 1}/{ctx.repeats} floor:  {base.describe()}")
            f_rates.append(base.throughput)
            f_p50s.append(base.pct(50))
            f_p99s.append(base.pct(99))
            started = time.perf_counter()
            load = await fire(ctx.stack.url("ingest"), requests, concurrency=CLIENTS,
                              workdir=ctx.workdir)
            step(f"webhooks {repeat + 1}/{ctx.repeats} ingest: {load.describe()}")
            rates.append(load.throughput)
            p50s.append(load.pct(50))
            p99s.append(load.pct(99))
            query = {"userId": tenant.user_id, "status": {"$in": ["Sent", "Delivered"]}}
            left = budget - (time.perf_counter() - started)
            if await until(lambda q=query: none_left(ctx, q), timeout=max(left, 0)):
                applied.append(len(requests) / (time.perf_counter() - started))
            else:
                figure.notes.append(f"repeat {repeat + 1}: not every message Read within "
                                    f"{budget} s of the first POST")
            step(f"webhooks {repeat + 1}/{ctx.repeats}: applied "
                 f"{applied[-1] if applied else float('nan'):,.0f} events/s")
            await forget_user(ctx, tenant.user_id)
    finally:
        ctx.stack.stop("floor")
        await ctx.stack.sim("POST", "/_sim/config", {"autoStatuses": True})
    figure.rows = [
        Row("status events accepted", "events/s", rates, f_rates, "≥ 2,000/s", at_least(2000)),
        Row("status events applied", "events/s", applied),
        Row("HTTP p50", "ms", p50s, f_p50s, "≤ 25 ms", at_most(25)),
        Row("HTTP p99", "ms", p99s, f_p99s, "≤ 250 ms", at_most(250)),
    ]
    return figure


