"""``python -m bench [--quick] [--only NAME[,NAME]] [--out BENCHMARKS.md]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import report
from bench.figures import ORDER, TITLES
from bench.figures.common import Context
from bench.figures.memory import sample_idle
from bench.profile import Profiler
from bench.progress import step
from bench.results import Figure
from bench.stack import BenchStack
from relay import embedded

NOTES = Path(__file__).with_name("NOTES.md")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts (< 2 minutes)")
    parser.add_argument("--only", default="", help=f"comma-separated, of: {', '.join(ORDER)}")
    parser.add_argument("--out", default="BENCHMARKS.md", help="where to write the report")
    parser.add_argument("--json", default=".relay/bench/results.json",
                        help="raw results (not committed)")
    parser.add_argument("--amqp-url", default=None,
                        help="use this existing vhost instead of creating (and deleting) one")
    parser.add_argument("--merge", action="store_true",
                        help="keep the figures of the last run (--json) that are not re-run")
    parser.add_argument("--profile", default="",
                        help="py-spy these processes during each figure: gateway,sender,"
                             "ingest,stats,sim,db (the embedded database)")
    return parser


async def _run(names: list[str], quick: bool, profile: list[str],
               memory: dict[str, dict[str, list[float]]],
               amqp_url: str | None) -> tuple[list[Figure], Context]:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):  # stop cleanly: processes, database, vhost
        loop.add_signal_handler(sig, task.cancel)
    stack = BenchStack(amqp_url=amqp_url)
    figures: list[Figure] = []
    await stack.open()
    try:
        ctx = Context(stack, quick, memory=memory)
        ctx.core()
        await ctx.senders(count=1, pacing=False)
        step(f"services live: {', '.join(stack.procs)}")
        await asyncio.sleep(2)
        await sample_idle(ctx)
        profiler = Profiler(stack, profile, Path(".relay/bench/profiles"))
        for name in names:
            step(f"── figure {name} ──")
            await _broker_up(stack.settings.amqp_url)
            started = time.perf_counter()
            profiler.start(name)
            try:
                figure = await ORDER[name](ctx)
            except Exception as exc:
                traceback.print_exc()
                figure = Figure(name, TITLES[name], "",
                                error=f"{type(exc).__name__}: {exc}"[:500])
                await _recover(ctx)
            finally:
                profiler.stop()
            step(f"── figure {name} done in {time.perf_counter() - started:.0f} s ──")
            figures.append(figure)
    finally:
        await stack.close()
    return figures, ctx


async def _broker_up(url: str, patience: float = 600.0) -> None:
    """Wait (with a line now and then) while RabbitMQ is away: other runs on a shared machine
    restart it (fault-injection tests)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5672
    deadline = time.monotonic() + patience
    while not embedded.rabbitmq_answers(host, port) and time.monotonic() < deadline:
        step(f"RabbitMQ does not answer on {host}:{port}; waiting for it to come back")
        await asyncio.sleep(10)


async def _recover(ctx: Context) -> None:
    """After a failed figure: the services back as the next figure expects them."""
    for key, proc in list(ctx.stack.procs.items()):
        if proc.popen.poll() is not None:
            step(f"{key} had exited ({proc.popen.returncode}): {ctx.stack.log_tail(key, 5)}")
            ctx.stack.procs.pop(key)
    ctx.core()
    ctx.no_senders()


def _carried_memory(previous: dict[str, Any] | None, names: list[str]) -> dict[str, Any]:
    """Memory samples of the last run for the phases this run does not measure again."""
    if previous is None:
        return {}
    remeasured = {"idle"} | ({"load"} if "e2e" in names else set()) | (
        {"backlog"} if "fairness" in names else set())
    return {k: v for k, v in previous.get("memory", {}).items() if k not in remeasured}


def _merged(previous: dict[str, Any], current: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The last run's figures, with those re-run now replaced (in the usual order)."""
    fresh = {f["name"]: f for f in current["figures"]}
    old = {f["name"]: f for f in previous["figures"]}
    figures = [fresh.get(n) or old.get(n) for n in ORDER if n in fresh or n in old]
    rerun = ", ".join(names)
    for figure in figures:
        if figure and figure["name"] in fresh and figure["name"] in old:
            figure["notes"] = [*figure["notes"], f"re-run on {current['machine']['date']} "
                               f"(`--only {rerun} --merge`)"]
    return {**previous, "figures": figures, "memory": current["memory"],
            "elapsed": previous["elapsed"] + current["elapsed"]}


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(ORDER)
    unknown = [n for n in names if n not in ORDER]
    if unknown:
        sys.exit(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    machine = report.machine()
    started = time.perf_counter()
    profile = [p.strip() for p in args.profile.split(",") if p.strip()]
    raw = Path(args.json)
    previous = json.loads(raw.read_text()) if args.merge and raw.exists() else None
    memory = _carried_memory(previous, names)
    figures, ctx = asyncio.run(_run(names, args.quick, profile, memory, args.amqp_url))
    results = {"machine": machine, "quick": args.quick, "elapsed": time.perf_counter() - started,
               "figures": [f.to_dict() for f in figures], "memory": ctx.memory}
    if previous is not None:
        results = _merged(previous, results, names)
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(results, indent=1, default=str))
    notes = NOTES.read_text() if NOTES.exists() else ""
    Path(args.out).write_text(report.render(results, notes))
    step(f"wrote {args.out} (raw results in {raw}) in {results['elapsed']:.0f} s")


if __name__ == "__main__":
    main()
