"""What several figures share: the run context, request builders, seeding and polling."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pymongo.errors import BulkWriteError, PyMongoError

from bench.loadgen import Load, fire
from bench.progress import step
from bench.stack import BenchStack, Tenant
from shared import topology
from shared.db import created_ms
from shared.models import SendMessage, utcnow
from shared.pacing import Planner, publish_send
from shared.template_store import MongoTemplateStore
from shared.templates import Template, TemplateStatus, template_id

SERVICES = ("gateway", "ingest", "stats", "sender")
CORE = ("sim", "gateway", "ingest", "stats")


@dataclass
class Context:
    """Everything a figure may use; ``memory`` collects RSS samples across figures."""

    stack: BenchStack
    quick: bool
    repeats: int = 3
    memory: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    @property
    def workdir(self) -> str:
        return str(self.stack.root)

    def n(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def record_memory(self, phase: str, service: str, mb: float) -> None:
        if not math.isnan(mb):
            self.memory.setdefault(phase, {}).setdefault(service, []).append(mb)

    async def senders(self, *, count: int = 1, pacing: bool = False) -> None:
        """Exactly ``count`` sender processes with the given pacing (restarted if different)."""
        wanted = {"sender" if i == 0 else f"sender{i + 1}" for i in range(count)}
        env = {"RELAY_PACING_ENABLED": "true" if pacing else "false"}
        for key in [k for k in self.stack.procs if k.startswith("sender")]:
            if key not in wanted or self._pacing.get(key) != pacing:
                self.stack.stop(key)
        for key in sorted(wanted - set(self.stack.procs)):
            self.stack.start("sender", key=key, env=env)
            self._pacing[key] = pacing

    def no_senders(self) -> None:
        for key in [k for k in self.stack.procs if k.startswith("sender")]:
            self.stack.stop(key)

    def core(self) -> None:
        """The simulator, gateway, ingest and stats, started if they are not running."""
        for name in CORE:
            if name not in self.stack.procs:
                self.stack.start(name)

    _pacing: dict[str, bool] = field(default_factory=dict)


def start_floor(ctx: Context) -> str:
    """Start ``bench/floor.py`` on the stack's database and broker; return its base URL."""
    from relay.embedded import free_port

    port = free_port()
    stack = ctx.stack
    stack.start("floor", port=port, command=[
        sys.executable, "-m", "bench.floor", str(port), stack.mongo.url, "bench_floor",
        stack.settings.amqp_url])
    return stack.url("floor")


def text_requests(tenant: Tenant, count: int, *, recipients: int = 1000) -> list[dict[str, Any]]:
    """``POST /api/v1/messages`` Text requests, spread over the tenant's accounts."""
    accounts = [a["_id"] for a in tenant.accounts]
    return [
        {"method": "POST", "path": "/api/v1/messages", "headers": tenant.auth,
         "body": json.dumps({"whatsappAccountId": accounts[i % len(accounts)],
                             "to": f"+1555{i % recipients:07d}", "type": "Text",
                             "content": f"bench message {i}"})}
        for i in range(count)
    ]


BENCH_TEMPLATE = "order_update"
BENCH_TEMPLATE_BODY = "Hi {{1}}, your order {{2}} has shipped."


async def add_bench_template(ctx: Context, tenant: Tenant) -> None:
    """An approved two-parameter template on each of the tenant's accounts, stored directly."""
    store = MongoTemplateStore(ctx.stack.db)
    for account in tenant.accounts:
        await store.add(Template(
            _id=template_id(account["_id"], BENCH_TEMPLATE, "en_US"),
            whatsapp_account_id=account["_id"], user_id=tenant.user_id, name=BENCH_TEMPLATE,
            language="en_US", category="UTILITY", status=TemplateStatus.APPROVED,
            components=[{"type": "BODY", "text": BENCH_TEMPLATE_BODY}], updated_at=utcnow()))


def template_requests(tenant: Tenant, count: int, *,
                      recipients: int = 1000) -> list[dict[str, Any]]:
    """``POST /api/v1/messages`` Template requests (``add_bench_template``), like
    :func:`text_requests`."""
    accounts = [a["_id"] for a in tenant.accounts]
    return [
        {"method": "POST", "path": "/api/v1/messages", "headers": tenant.auth,
         "body": json.dumps({"whatsappAccountId": accounts[i % len(accounts)],
                             "to": f"+1555{i % recipients:07d}", "type": "Template",
                             "template": {"name": BENCH_TEMPLATE, "language": "en_US",
                                          "components": [{"type": "body", "parameters": [
                                              {"type": "text", "text": f"customer {i}"},
                                              {"type": "text", "text": f"A-{i}"}]}]}})}
        for i in range(count)
    ]


async def post_messages(ctx: Context, tenant: Tenant, count: int, *, concurrency: int = 50,
                        keep_bodies: bool = False) -> Load:
    load = await fire(ctx.stack.url("gateway"), text_requests(tenant, count),
                      concurrency=concurrency, workdir=ctx.workdir, keep_bodies=keep_bodies)
    return load


async def template_message(ctx: Context, tenant: Tenant, account: dict[str, Any]) -> dict[str, Any]:
    """One message accepted by the real gateway, read back as the shape to clone."""
    async with ctx.stack.http.post(
        ctx.stack.url("gateway") + "/api/v1/messages", headers=tenant.auth,
        json={"whatsappAccountId": account["_id"], "to": "+15550000001", "type": "Text",
              "content": "template"},
    ) as response:
        body = await response.json()
        if response.status != 202:
            raise RuntimeError(f"the gateway refused the template message: {body}")
    message_id = body["data"]["id"]
    doc = await ctx.stack.wait_for(
        lambda: ctx.stack.db.messages.find_one({"_id": message_id}), timeout=10,
        what="the template message",
    )
    return dict(doc)


async def insert_clones(ctx: Context, template: dict[str, Any], total: int, *,
                        fields: dict[str, Any] | None = None, batch: int = 5000,
                        label: str = "messages", quiet: bool = False,
                        publish: bool = False, rate: int | None = None) -> list[str]:
    """Insert ``total`` copies of ``template`` (new ids, fresh times) straight into MongoDB;
    with ``publish``, each batch's send commands go out while the next batch is inserted (with
    ``rate``, planned as the gateway plans them: ``shared.pacing.publish_send``).

    A value in ``fields`` may be a function of the new document (a unique ``wamid``)."""
    ids: list[str] = []
    base = {k: v for k, v in template.items() if k != "eventPending"}
    base.update({"dispatched": True, **(fields or {})})
    started = time.perf_counter()
    publishing: asyncio.Task[None] | None = None
    planner = Planner(rate) if rate else None
    for offset in range(0, total, batch):
        docs = clones(base, offset, min(batch, total - offset))
        await _insert_retrying(ctx, docs)
        ids += [d["_id"] for d in docs]
        if publishing is not None:
            await publishing
        if publish:
            publishing = asyncio.create_task(publish_sends(
                ctx, template, [d["_id"] for d in docs], planner=planner))
        if not quiet and ((offset // batch) % 4 == 3 or offset + batch >= total):
            step(f"  stored {len(ids):,}/{total:,} {label} "
                 f"({len(ids) / (time.perf_counter() - started):,.0f}/s)")
    if publishing is not None:
        await publishing
    return ids


async def _insert_retrying(ctx: Context, docs: list[dict[str, Any]], tries: int = 3) -> None:
    """``insert_many``, retried when the connection drops (a retry's duplicates are fine)."""
    for attempt in range(tries):
        try:
            await ctx.stack.db.messages.insert_many(docs, ordered=False)
            return
        except BulkWriteError as exc:
            if all(e.get("code") == 11000 for e in exc.details.get("writeErrors", [])):
                return
            raise
        except PyMongoError as exc:
            if attempt == tries - 1:
                raise
            step(f"  insert failed ({type(exc).__name__}); retrying the batch")
            await asyncio.sleep(1)


def clones(base: dict[str, Any], offset: int, count: int) -> list[dict[str, Any]]:
    now = utcnow()
    docs = []
    for i in range(count):
        doc = {**base, "_id": str(uuid.uuid4()), "createdAt": now, "createdMs": created_ms(now),
               "updatedAt": now,
               "statusChangedAt": now, "content": f"bench {offset + i}"}
        for key, value in list(doc.items()):
            if callable(value):
                doc[key] = value(doc)
        docs.append(doc)
    return docs


async def publish_sends(ctx: Context, template: dict[str, Any], ids: list[str], *,
                        chunk: int = 1000, planner: Planner | None = None) -> None:
    """Publish the send command of each id (confirmed), in order: to its account's shard, or,
    with ``planner``, as the gateway does (beyond the next minute of sends, delayed)."""
    for offset in range(0, len(ids), chunk):
        await asyncio.gather(*(
            publish_send(ctx.stack.broker, SendMessage(
                message_id=mid, whatsapp_account_id=template["whatsappAccountId"],
                user_id=template["userId"]), planner=planner, message_id=mid)
            for mid in ids[offset:offset + chunk]
        ))


async def sim_send_times(ctx: Context, wanted: set[str]) -> dict[str, float]:
    """When the simulator first accepted each of ``wanted`` (Relay's message ids).

    The simulator is its own process: asking it costs the database nothing, unlike a
    ``count_documents`` (an aggregation the embedded server runs in Python)."""
    sends = (await ctx.stack.sim("GET", "/_sim/sends"))["sends"]
    out: dict[str, float] = {}
    for send in sends:
        mid = send.get("messageId")
        if mid in wanted and mid not in out:
            out[mid] = float(send["at"])
    return out


async def none_left(ctx: Context, query: dict[str, Any]) -> bool:
    """Whether no message matches ``query`` (one indexed ``find_one``: cheap to poll)."""
    return await ctx.stack.db.messages.find_one(query, projection={"_id": 1}) is None


async def until(check: Callable[[], Awaitable[bool]], *, timeout: float,
                interval: float = 0.5) -> bool:
    """Poll ``check`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    for _ in itertools.count():
        if await check():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)
    return False


async def count(ctx: Context, query: dict[str, Any]) -> int:
    return int(await ctx.stack.db.messages.count_documents(query))


async def purge_queues(ctx: Context, timeout: float = 15.0) -> None:
    """Empty every send shard and delay queue (between figures); a queue the broker does not
    purge in time is reported and left (its messages name deleted messages: harmless)."""
    for name in topology.all_queues(ctx.stack.broker.shards):
        if not name.startswith(("relay.send.", "relay.wait.")):
            continue
        channel = await ctx.stack.broker.connection.channel()
        try:
            queue = await channel.get_queue(name, ensure=False)
            await asyncio.wait_for(queue.purge(), timeout)
        except TimeoutError:
            step(f"  the broker did not purge {name} within {timeout:.0f} s; left as it is")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.close(), 5)


async def forget_user(ctx: Context, user_id: str) -> None:
    """Delete a figure's messages so that no later figure's worker touches them."""
    await ctx.stack.db.messages.delete_many({"userId": user_id})


@contextlib.asynccontextmanager
async def sampling(ctx: Context, phase: str, every: float = 0.25) -> AsyncIterator[None]:
    """Record each service's peak RSS over the block under ``phase``."""
    peaks: dict[str, float] = {}

    async def sample() -> None:
        while True:
            for key, proc in list(ctx.stack.procs.items()):
                peaks[key] = max(peaks.get(key, 0.0), proc.rss_mb())
            await asyncio.sleep(every)

    task = asyncio.create_task(sample())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for key, mb in peaks.items():
            ctx.record_memory(phase, key, mb)


async def db_writes(ctx: Context) -> dict[str, tuple[float, float]]:
    """Write commands and documents written so far by every running service, by collection
    (``relay_db_write_commands_total``, ``relay_db_documents_written_total`` on /metrics)."""
    from prometheus_client.parser import text_string_to_metric_families

    totals: dict[str, tuple[float, float]] = {}
    async with aiohttp.ClientSession() as http:
        for key in [k for k in ctx.stack.procs if k.startswith(SERVICES)]:
            async with http.get(ctx.stack.url(key) + "/metrics") as response:
                text = await response.text()
            for family in text_string_to_metric_families(text):
                if family.name not in ("relay_db_write_commands", "relay_db_documents_written"):
                    continue
                for sample in family.samples:
                    if not sample.name.endswith("_total"):
                        continue
                    collection = sample.labels["collection"]
                    commands, documents = totals.get(collection, (0.0, 0.0))
                    if family.name == "relay_db_write_commands":
                        commands += sample.value
                    else:
                        documents += sample.value
                    totals[collection] = (commands, documents)
    return totals


async def settled_writes(ctx: Context, *, quiet: float = 1.5, timeout: float = 20.0
                         ) -> dict[str, tuple[float, float]]:
    """:func:`db_writes` once no service has written for ``quiet`` seconds (the outbox's
    settles and the projection trail the last status), or at ``timeout``."""
    last = await db_writes(ctx)
    still_since = time.monotonic()
    deadline = still_since + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        now = await db_writes(ctx)
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            break
    return last


def ts(value: Any) -> float:
    """Unix seconds of a stored time: a datetime, or the string nx-27017 leaves when an update
    operator wrote it (docs/DEVIATIONS.md), read as UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())
