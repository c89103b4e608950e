"""The image's HEALTHCHECK script finds the running service's port and reports its
`/health/live` answer through its exit code."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from collections.abc import AsyncIterator
from types import ModuleType

import pytest
from prometheus_client import CollectorRegistry

from shared.observability import serve_health
from tests.unit.deploy.manifests import ROOT, SERVICES

pytestmark = pytest.mark.unit

SCRIPT = ROOT / "deploy" / "docker" / "healthcheck.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("relay_healthcheck", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = _load()


async def _ready() -> dict[str, bool]:
    return {"broker": True}


@pytest.fixture
async def live_port() -> AsyncIterator[int]:
    """A real health server (the one sender and stats run) on a free loopback port."""
    runner = await serve_health("127.0.0.1", 0, CollectorRegistry(), _ready)
    port = runner.addresses[0][1]
    yield int(port)
    await runner.cleanup()


class TestServiceAndPort:
    """The service is RELAY_SERVICE or PID 1's last argument; its port the contract's."""

    def test_service_from_environment(self) -> None:
        assert healthcheck.service_name({"RELAY_SERVICE": "stats"}, b"") == "stats"

    def test_service_from_pid1_command_line(self) -> None:
        cmdline = b"/opt/venv/bin/python\0/opt/venv/bin/relay\0serve\0sender\0"
        assert healthcheck.service_name({}, cmdline) == "sender"

    @pytest.mark.parametrize(("service", "port"), sorted(SERVICES.items()))
    def test_default_ports_match_the_contract(self, service: str, port: int) -> None:
        assert healthcheck.health_url({}, service) == f"http://127.0.0.1:{port}/health/live"

    def test_port_variable_overrides_the_default(self) -> None:
        url = healthcheck.health_url({"RELAY_INGEST_PORT": "9999"}, "ingest")
        assert url == "http://127.0.0.1:9999/health/live"

    def test_unknown_service_is_refused(self) -> None:
        with pytest.raises(ValueError, match="unknown service"):
            healthcheck.health_url({}, "worker")


def _run_script(env: dict[str, str]) -> int:
    result = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True,
                            timeout=30, check=False)
    return result.returncode


class TestAgainstALiveServer:
    """Exit 0 while the service answers, 1 when nothing listens."""

    async def test_healthy_service_exits_zero(self, live_port: int) -> None:
        env = {"RELAY_SERVICE": "sender", "RELAY_SENDER_PORT": str(live_port)}
        assert await asyncio.to_thread(_run_script, env) == 0

    async def test_stopped_service_exits_one(self) -> None:
        runner = await serve_health("127.0.0.1", 0, CollectorRegistry(), _ready)
        port = int(runner.addresses[0][1])
        assert await asyncio.to_thread(healthcheck.check, f"http://127.0.0.1:{port}/health/live")
        await runner.cleanup()
        env = {"RELAY_SERVICE": "sender", "RELAY_SENDER_PORT": str(port)}
        assert await asyncio.to_thread(_run_script, env) == 1

    async def test_unknown_service_exits_one(self) -> None:
        assert await asyncio.to_thread(_run_script, {"RELAY_SERVICE": "worker"}) == 1

