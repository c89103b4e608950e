"""9. Export: ``GET /messages/export`` of every stored message, rows a second and the gateway's
resident memory while it streams."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bench.figures.common import Context
from bench.figures.reads import Store, seeded_store
from bench.progress import step
from bench.results import Figure, Row, at_least, worst_at_most
from bench.stack import Proc

RATE = 20_000  # rows a second, at least
RSS_MB = 150  # the gateway's resident memory while exporting, at most
SAMPLE_SECONDS = 0.1
FORMATS = ("csv", "ndjson")


async def peak_rss(proc: Proc, stop: asyncio.Event) -> float:
    """The highest VmRSS of ``proc`` (MiB), sampled every ``SAMPLE_SECONDS`` until ``stop``."""
    peak = proc.rss_mb()
    while not stop.is_set():
        peak = max(peak, proc.rss_mb())
        await asyncio.sleep(SAMPLE_SECONDS)
    return max(peak, proc.rss_mb())


async def timed_export(ctx: Context, base: str, proc: Proc, auth: dict[str, str],
                       fmt: str) -> tuple[int, float, float]:
    """One whole export read and thrown away: its rows, seconds and the gateway's peak RSS."""
    stop = asyncio.Event()
    sampler = asyncio.create_task(peak_rss(proc, stop))
    lines = 0
    started = time.perf_counter()
    try:
        async with ctx.stack.http.get(
                f"{base}/api/v1/messages/export", params={"format": fmt}, headers=auth,
                timeout=aiohttp.ClientTimeout(total=None, sock_read=120)) as response:
            if response.status != 200:
                raise RuntimeError(f"export answered {response.status}: "
                                   f"{(await response.text())[:300]}")
            async for chunk in response.content.iter_chunked(1 << 16):
                lines += chunk.count(b"\n")
    finally:
        elapsed = time.perf_counter() - started
        stop.set()
        peak = await sampler
    return lines - (1 if fmt == "csv" else 0), elapsed, peak


async def bare_read(store: Store) -> float:
    """Rows a second of the database alone: the same messages read newest first by one plain
    ``find`` (1,000 a batch) and thrown away, no encoding, no HTTP: the ceiling of an export."""
    started = time.perf_counter()
    cursor = store.db.messages.find({"userId": {"$eq": store.tenant.user_id}},
                                    sort=[("createdMs", -1)], batch_size=1_000)
    rows = 0
    async for _ in cursor:
        rows += 1
    return rows / (time.perf_counter() - started)


async def run(ctx: Context) -> Figure:
    size = ctx.n(1_000_000, 5_000)
    budget = ctx.n(1_200, 15)
    repeats = ctx.n(1, 2)
    figure = Figure("export", "9. Export", (
        f"Figure 7's dataset ({size:,} messages of one user, inserted straight into MongoDB), "
        f"then `GET /messages/export` of all of them, {repeats} time(s) in each format, read "
        "and thrown away by the client as fast as it arrives. Rows a second are the rows "
        "received over the whole request; the gateway's VmRSS is sampled every "
        f"{SAMPLE_SECONDS * 1000:.0f} ms from the request to the last byte. The floor column "
        "is the database alone: the same messages read by one plain `find` from the bench "
        "process (no encoding, no HTTP), the ceiling of any export on this database."))
    ctx.core()
    store = await seeded_store(ctx)
    proc = ctx.stack.start("gateway", key="gateway-export",
                           env={"RELAY_MONGODB_DB": "bench_reads"})
    base = ctx.stack.url(proc.name)
    results: dict[str, list[tuple[int, float, float]]] = {fmt: [] for fmt in FORMATS}
    floor: list[float] = []
    try:
        await store.grow(size, budget=budget)
        if store.size < size:
            figure.notes.append(f"only {store.size:,} of {size:,} messages could be stored "
                                f"within the {budget} s budget")
        idle = proc.rss_mb()
        figure.notes.append(f"the gateway's VmRSS before the first export: {idle:.0f} MiB")
        for _ in range(repeats):
            floor.append(await bare_read(store))
            step(f"  the database alone: {floor[-1]:,.0f} rows/s")
            for fmt in FORMATS:
                rows, seconds, peak = await timed_export(ctx, base, proc, store.tenant.auth, fmt)
                if rows != store.size:
                    raise RuntimeError(f"the {fmt} export had {rows:,} rows of {store.size:,}")
                results[fmt].append((rows, seconds, peak))
                step(f"  export {fmt}: {rows:,} rows in {seconds:.1f} s "
                     f"({rows / seconds:,.0f}/s), gateway peak {peak:.0f} MiB")
    finally:
        ctx.stack.stop("gateway-export")
        await ctx.stack.client.drop_database("bench_reads")
    figure.rows = rows_of(results, floor, store.size)
    return figure


def rows_of(results: dict[str, list[tuple[int, float, float]]], floor: list[float],
            size: int) -> list[Row]:
    out: list[Row] = []
    for fmt, runs in results.items():
        out.append(Row(f"export {fmt} of {size:,} messages", "rows/s",
                       [rows / seconds for rows, seconds, _ in runs], floor,
                       f"≥ {RATE:,} rows/s", at_least(RATE)))
        out.append(Row(f"gateway VmRSS peak during the {fmt} export", "MiB",
                       [peak for _, _, peak in runs], None,
                       f"≤ {RSS_MB} MiB throughout", worst_at_most(RSS_MB),
                       higher_is_better=False))
    return out
