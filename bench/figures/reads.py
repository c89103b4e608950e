"""7. Reads at scale: statistics and ``GET /messages`` pages at a small and a large store."""
# ruff: noqa: RUF001 -- the typographic signs in the report text are meant

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from bench.figures.common import Context
from bench.progress import step
from bench.results import Figure, Row
from bench.stack import Tenant
from gateway.handlers.messages import ListMessagesQuery
from gateway.keyset import After, sargable, scope_of
from shared.db import created_ms, ensure_indexes
from shared.models import utcnow
from shared.search import search_text

STATUSES = ["Read"] * 10 + ["Delivered"] * 4 + ["Sent"] * 3 + ["Failed", "Queued"]
TYPES = ["Text"] * 16 + ["Image", "Image", "Document", "Video"]
SMALL = 1_000
TIMED = 3
# The search's rare word: in one message of the first 1,000, and one in every 250,000 after.
RARE_WORD, RARE_EVERY, RARE_AT = "zanzibar", 250_000, 500


def message_doc(tenant: Tenant, contacts: list[str], i: int, base: Any) -> dict[str, Any]:
    """A stored message as the services leave it (about one in twenty inbound)."""
    account = tenant.accounts[i % len(tenant.accounts)]["_id"]
    inbound = i % 20 == 7
    status = "Read" if inbound else STATUSES[i % len(STATUSES)]
    at = base + timedelta(milliseconds=i)
    doc = {
        "_id": str(uuid.uuid4()), "userId": tenant.user_id, "whatsappAccountId": account,
        "contactId": contacts[i % len(contacts)], "campaignId": None,
        "direction": "Inbound" if inbound else "Outbound", "type": TYPES[i % len(TYPES)],
        "content": f"stored message {i}", "mediaUrl": None, "mediaId": None,
        "whatsappMessageId": f"wamid.bench{uuid.uuid4().hex}", "status": status,
        "errorMessage": "(131026) undeliverable" if status == "Failed" else None,
        "scheduledFor": None, "sentAt": at, "deliveredAt": None, "readAt": None,
        "isFromBot": False, "createdAt": at, "createdMs": created_ms(at), "updatedAt": at,
        "attempts": 1, "version": 3,
        "previousStatus": None, "statusChangedAt": at, "dispatched": True,
    }
    doc["from" if inbound else "to"] = f"+1555{i % len(contacts):07d}"
    if i % RARE_EVERY == RARE_AT:
        doc["content"] += f" {RARE_WORD}"
    # What the message store writes (shared/search.py); the contacts have no name here.
    doc["searchText"] = search_text(doc["content"], None, doc.get("to") or doc.get("from"))
    return doc


def projection(tenant: Tenant, docs_counted: dict[str, Counter[str]]) -> list[dict[str, Any]]:
    """``stats_accounts`` as the stats service keeps them, for the counted messages."""
    out = []
    for account in tenant.accounts:
        c = docs_counted[account["_id"]]
        out.append({
            "_id": account["_id"], "userId": tenant.user_id, "total": c["total"],
            "byStatus": {k[2:]: v for k, v in c.items() if k.startswith("s:")},
            "byDirection": {k[2:]: v for k, v in c.items() if k.startswith("d:")},
            "byType": {k[2:]: v for k, v in c.items() if k.startswith("t:")},
            "outboundByStatus": {k[2:]: v for k, v in c.items() if k.startswith("o:")},
        })
    return out


class Store:
    """Grows the reads database to a size, keeping the stats projection exact."""

    def __init__(self, ctx: Context, tenant: Tenant, contacts: list[str]) -> None:
        self.db = ctx.stack.client["bench_reads"]
        self.tenant = tenant
        self.contacts = contacts
        self.size = 0
        self.counted: dict[str, Counter[str]] = {a["_id"]: Counter() for a in tenant.accounts}
        self.base = utcnow() - timedelta(days=30)
        self.insert_seconds = 0.0

    async def grow(self, target: int, *, budget: float, batch: int = 10_000) -> None:
        started = time.perf_counter()
        while self.size < target and time.perf_counter() - started < budget:
            docs = [message_doc(self.tenant, self.contacts, self.size + i, self.base)
                    for i in range(min(batch, target - self.size))]
            t = time.perf_counter()
            await self.db.messages.insert_many(docs, ordered=False)
            self.insert_seconds += time.perf_counter() - t
            for doc in docs:
                c = self.counted[doc["whatsappAccountId"]]
                c.update({"total": 1, f"s:{doc['status']}": 1, f"d:{doc['direction']}": 1,
                          f"t:{doc['type']}": 1})
                if doc["direction"] == "Outbound":
                    c[f"o:{doc['status']}"] += 1
            self.size += len(docs)
            if self.size % 100_000 < batch or self.size == target:
                step(f"  reads: {self.size:,} messages stored "
                     f"({self.size / max(self.insert_seconds, 1e-3):,.0f}/s)")
        for doc in projection(self.tenant, self.counted):
            await self.db.stats_accounts.replace_one({"_id": doc["_id"]}, doc, upsert=True)


async def middle_cursor(store: Store) -> str:
    """The cursor a client holds after paging to the middle of the store (message
    ``size // 2`` from the newest): what ``nextCursor`` is there, built from that message."""
    position = store.size // 2
    ms = created_ms(store.base + timedelta(milliseconds=store.size - 1 - position))
    doc = await store.db.messages.find_one(
        {"userId": {"$eq": store.tenant.user_id}, "createdMs": {"$eq": ms}})
    if doc is None:
        raise RuntimeError(f"no message at createdMs {ms}")
    # 0: its group is whole; the cursor is bound to the list's filter (gateway/keyset.py).
    scope = scope_of(sargable(ListMessagesQuery().mongo(store.tenant.user_id)))
    return After(ms, doc["_id"], 0, position // 50 + 2, scope).encode()


async def read_paths(store: Store) -> dict[str, str]:
    account = store.tenant.accounts[0]["_id"]
    return {
        "statistics": "/api/v1/messages/statistics",
        "first page": "/api/v1/messages",
        "filtered page (account + status Failed)":
            f"/api/v1/messages?whatsappAccountId={account}&status=Failed",
        "deep page by cursor (the middle of the store)":
            f"/api/v1/messages?cursor={await middle_cursor(store)}",
        "page 1,000 by skip": "/api/v1/messages?page=1000",
        f"search for a rare word (q={RARE_WORD})": f"/api/v1/messages?q={RARE_WORD}",
        "search for a rare word + account + status Read":
            f"/api/v1/messages?q={RARE_WORD}&whatsappAccountId={account}&status=Read",
    }


async def time_reads(ctx: Context, base: str, store: Store,
                     patience: float) -> dict[str, list[float]]:
    """Each read once to warm up, then ``TIMED`` times (ms); a read slower than ``patience``
    seconds is not repeated."""
    tenant = store.tenant
    out: dict[str, list[float]] = {}
    for label, path in (await read_paths(store)).items():
        out[label] = []
        for attempt in range(TIMED + 1):
            started = time.perf_counter()
            async with ctx.stack.http.get(base + path, headers=tenant.auth) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{path} answered {response.status}")
            elapsed = time.perf_counter() - started
            if attempt:
                out[label].append(elapsed * 1000)
            if elapsed > patience:
                out[label] += [elapsed * 1000] * (TIMED - len(out[label]))
                break
    return out


async def seeded_store(ctx: Context) -> Store:
    """Figure 7's dataset builder on its database: one user, 2 accounts, 100 contacts."""
    db = ctx.stack.client["bench_reads"]
    await ensure_indexes(db)
    tenant = await ctx.stack.tenant(accounts=2, db=db)
    contacts = [str(uuid.uuid4()) for _ in range(100)]
    await db.contacts.insert_many([
        {"_id": cid, "userId": tenant.user_id, "whatsappAccountId": tenant.accounts[0]["_id"],
         "phone": f"+1555{i:07d}", "name": None, "unreadCount": 0, "totalMessages": 0,
         "createdAt": utcnow(), "updatedAt": utcnow(), "lastMessageAt": utcnow()}
        for i, cid in enumerate(contacts)])
    return Store(ctx, tenant, contacts)


async def run(ctx: Context) -> Figure:
    large = ctx.n(1_000_000, 5_000)
    budget = ctx.n(1_200, 15)
    figure = Figure("reads", "7. Reads at scale", (
        f"One user with 2 accounts and 100 contacts; messages inserted straight into MongoDB "
        f"(`insert_many`, 10,000 a batch, every index in place) with a realistic mix of status, "
        f"type and direction, and the stats projection written to match. Each read is timed "
        f"{TIMED} times after one warm-up, sequentially, at {SMALL:,} and then at {large:,} "
        "stored messages; the ratio is large/small (the \"floor\" column is the small store). "
        "The deep page by cursor is the page after the middle message (the `nextCursor` a client "
        "paging down holds there). Page 1,000 uses the default limit of 50 (skip 49,950): at "
        "1,000 messages it is empty; skipping is kept for the contract, the cursor is the way "
        "to read deep. The searches (`q`, full text over content, contact name and phone) look "
        f"for a word in one message of the first 1,000 and in one of every {RARE_EVERY:,} "
        "after."))
    ctx.core()
    store = await seeded_store(ctx)
    proc = ctx.stack.start("gateway", key="gateway-reads", env={"RELAY_MONGODB_DB": "bench_reads"})
    base = ctx.stack.url(proc.name)
    try:
        await store.grow(SMALL, budget=budget)
        small = await time_reads(ctx, base, store, patience=60)
        step("reads at 1,000: " + ", ".join(f"{k} {v[0]:.0f} ms" for k, v in small.items()))
        await store.grow(large, budget=budget)
        if store.size < large:
            figure.notes.append(
                f"only {store.size:,} of {large:,} messages could be stored within the "
                f"{budget} s budget ({store.size / store.insert_seconds:,.0f} inserts/s); "
                f"the large figures are at {store.size:,}")
        big = await time_reads(ctx, base, store, patience=60)
        step(f"reads at {store.size:,}: " + ", ".join(f"{k} {v[0]:.0f} ms" for k, v in big.items()))
    finally:
        ctx.stack.stop("gateway-reads")
        await ctx.stack.client.drop_database("bench_reads")
    figure.notes.append(f"insert rate into the embedded database: "
                        f"{store.size / max(store.insert_seconds, 1e-3):,.0f} messages/s "
                        f"({store.size:,} in {store.insert_seconds:.0f} s)")
    figure.rows = [
        Row(f"{label} at {store.size:,}", "ms", big[label], small[label],
            "≤ 2× the same read at 1,000",
            lambda r: r.ratio is not None and r.ratio.median <= 2)
        for label in small
    ]
    return figure
