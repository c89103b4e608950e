"""8. Memory: resident memory (VmRSS) of each service idle, under load, and the sender's with
a large backlog — sampled by the other figures while they ran."""

from __future__ import annotations

from bench.figures.common import Context
from bench.results import Figure, Row, at_most

PHASES = {
    "idle": "idle, after start",
    "load": "peak during figure 3 (end to end)",
    "backlog": "peak while figure 5's backlog waits",
}


def describe_phase(phase: str) -> str:
    return PHASES.get(phase, phase)


async def sample_idle(ctx: Context, samples: int = 3) -> None:
    """Each running service's RSS, ``samples`` times a second apart."""
    import asyncio

    for _ in range(samples):
        for key, proc in ctx.stack.procs.items():
            ctx.record_memory("idle", key, proc.rss_mb())
        await asyncio.sleep(1.0)


async def run(ctx: Context) -> Figure:
    backlog = ctx.n(100_000, 3_000)
    figure = Figure("memory", "8. Memory", (
        "VmRSS from `/proc/<pid>/status` of each service process: idle (3 samples a second "
        "apart after start), the peak during each repeat of figure 3 (every service under "
        f"load), and the sender's peak during each probe of figure 5 (a {backlog:,}-message "
        "backlog)."))
    for phase in PHASES:
        for service, values in sorted(ctx.memory.get(phase, {}).items()):
            if service == "floor" or service.startswith("gateway-"):
                continue
            if phase == "backlog" and not service.startswith("sender"):
                continue
            target, check = "", None
            if phase == "backlog" and service == "sender":
                target, check = "≤ 200 MB", at_most(200 * 1e6 / 2**20)
            figure.rows.append(Row(f"{service}: {describe_phase(phase)}", "MiB", values, None,
                                   target, check))
    if not ctx.memory:
        figure.error = "no samples: the figures that take them were not run"
    return figure
