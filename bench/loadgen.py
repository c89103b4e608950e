"""HTTP load from its own process: ``python -m bench.loadgen SPEC.json RESULT.json``.

The spec holds ``base`` (an http://127.0.0.1 URL), ``concurrency``, ``deadline`` (seconds) and
``requests``: a list of ``{method, path, headers, body}``. N workers share one keep-alive
connection pool and take the requests in order; the run is bounded by the count and the
deadline. The result holds the wall time, each request's latency (ms) and status, and, when
``keepBodies`` is set, each JSON answer.
"""
# ruff: noqa: RUF001 -- the typographic signs in the report text are meant

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp


def _check_local(base: str) -> None:
    if urlsplit(base).hostname not in {"127.0.0.1", "localhost"}:
        raise SystemExit(f"loadgen only targets 127.0.0.1, not {base}")


async def _worker(
    session: aiohttp.ClientSession, spec: dict[str, Any], queue: list[int], out: dict[str, Any],
    stop_at: float,
) -> None:
    requests = spec["requests"]
    base = spec["base"].rstrip("/")
    keep = bool(spec.get("keepBodies"))
    while queue and time.perf_counter() < stop_at:
        index = queue.pop()
        req = requests[index]
        started = time.perf_counter()
        try:
            async with session.request(
                req.get("method", "POST"), base + req["path"], headers=req.get("headers"),
                data=req.get("body"),
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raw, status = str(exc).encode(), 0
        out["latency"][index] = (time.perf_counter() - started) * 1000
        out["status"][index] = status
        out["done"][index] = time.perf_counter() - out["t0"]
        if keep:
            try:
                out["bodies"][index] = json.loads(raw)
            except ValueError:
                out["bodies"][index] = raw.decode(errors="replace")[:200]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Fire every request of ``spec``; return timings."""
    _check_local(spec["base"])
    count = len(spec["requests"])
    queue = list(range(count))[::-1]
    out: dict[str, Any] = {
        "latency": [None] * count, "status": [None] * count, "done": [None] * count,
        "bodies": [None] * count,
    }
    timeout = aiohttp.ClientTimeout(total=float(spec.get("timeout", 30)))
    connector = aiohttp.TCPConnector(limit=int(spec["concurrency"]), force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        out["t0"] = time.perf_counter()
        stop_at = out["t0"] + float(spec.get("deadline", 300))
        workers = [
            _worker(session, spec, queue, out, stop_at) for _ in range(int(spec["concurrency"]))
        ]
        await asyncio.gather(*workers)
        out["elapsed"] = time.perf_counter() - out["t0"]
    out["wallStart"] = time.time() - out["elapsed"]
    if not spec.get("keepBodies"):
        del out["bodies"]
    return out


def main() -> None:
    spec_path, result_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as handle:
        spec = json.load(handle)
    result = asyncio.run(run(spec))
    with open(result_path, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()


def _read_text(path: str) -> str:
    with open(path) as handle:
        return handle.read()


class Load:
    """The outcome of one :func:`fire`: counts, wall time and latency percentiles."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        done = [i for i, s in enumerate(raw["status"]) if s is not None]
        self.latencies = [raw["latency"][i] for i in done]
        self.statuses: dict[int, int] = {}
        for i in done:
            self.statuses[raw["status"][i]] = self.statuses.get(raw["status"][i], 0) + 1
        self.ok = sum(n for code, n in self.statuses.items() if 200 <= code < 300)
        self.elapsed = float(raw["elapsed"])
        self.bodies: list[Any] = raw.get("bodies") or []

    @property
    def ids(self) -> set[str]:
        """``data.id`` of every JSON answer kept (``keep_bodies``)."""
        return {b["data"]["id"] for b in self.bodies
                if isinstance(b, dict) and isinstance(b.get("data"), dict) and "id" in b["data"]}

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else float("nan")

    def pct(self, pct: float) -> float:
        from bench.stats import percentile

        return percentile(self.latencies, pct)

    def describe(self) -> str:
        codes = ", ".join(f"{code}×{n}" for code, n in sorted(self.statuses.items()))
        return (f"{self.ok} ok of {len(self.latencies)} in {self.elapsed:.2f} s "
                f"({self.throughput:.0f}/s, p50 {self.pct(50):.1f} ms, p99 {self.pct(99):.1f} ms; "
                f"{codes})")


async def fire(
    base: str, requests: list[dict[str, Any]], *, concurrency: int, workdir: str,
    deadline: float = 300, keep_bodies: bool = False,
) -> Load:
    """Run ``requests`` against ``base`` from a separate loadgen process."""
    import os
    import tempfile

    spec = {"base": base, "concurrency": concurrency, "deadline": deadline,
            "keepBodies": keep_bodies, "requests": requests}
    fd, spec_path = tempfile.mkstemp(suffix=".json", dir=workdir)
    with os.fdopen(fd, "w") as handle:
        json.dump(spec, handle)
    result_path = spec_path + ".out"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", spec_path, result_path
    )
    await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"loadgen exited with {process.returncode}")
    raw = json.loads(await asyncio.to_thread(_read_text, result_path))
    os.unlink(spec_path)
    os.unlink(result_path)
    return Load(raw)
