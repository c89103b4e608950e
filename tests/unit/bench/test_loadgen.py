"""The load generator: bounded by count, local targets only, every answer accounted for."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from bench.loadgen import Load, run
from relay.embedded import free_port

pytestmark = pytest.mark.unit


async def _server() -> tuple[web.AppRunner, str]:
    async def accept(request: web.Request) -> web.Response:
        body = await request.json()
        status = 400 if body.get("bad") else 202
        return web.json_response({"data": {"id": body["n"]}}, status=status)

    app = web.Application()
    app.router.add_post("/m", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


class TestLoadgen:
    """Each request is sent once; statuses, latencies and kept bodies come back per request."""

    async def test_counts_statuses_and_ids(self) -> None:
        runner, base = await _server()
        try:
            requests = [
                {"method": "POST", "path": "/m", "headers": {"Content-Type": "application/json"},
                 "body": json.dumps({"n": str(i), "bad": i % 5 == 0})}
                for i in range(40)
            ]
            load = Load(await run({"base": base, "concurrency": 7, "requests": requests,
                                   "keepBodies": True}))
        finally:
            await runner.cleanup()
        assert load.statuses == {202: 32, 400: 8}
        assert load.ok == 32
        assert len(load.latencies) == 40
        assert load.ids == {str(i) for i in range(40)}
        assert load.pct(99) >= load.pct(50) > 0

    async def test_refuses_targets_off_this_machine(self) -> None:
        with pytest.raises(SystemExit, match=r"only targets 127\.0\.0\.1"):
            await run({"base": "http://10.1.2.3:80", "concurrency": 1, "requests": []})
