"""Every service's /metrics carries the runtime collectors, relay_build_info and relay_ready."""

from __future__ import annotations

import platform

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from shared.observability import add_health_routes, build_commit, runtime_metrics

pytestmark = pytest.mark.unit


async def scrape(checks: dict[str, bool]) -> dict[str, list[tuple[dict[str, str], float]]]:
    registry = CollectorRegistry()
    app = web.Application()

    async def ready() -> dict[str, bool]:
        return checks

    add_health_routes(app, registry, ready)
    async with TestClient(TestServer(app)) as client:
        text = await (await client.get("/metrics")).text()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


class TestRuntimeMetrics:
    async def test_process_gc_platform_and_build_info(self) -> None:
        samples = await scrape({"mongodb": True})
        assert "process_cpu_seconds_total" in samples
        assert "python_gc_collections_total" in samples
        assert samples["python_info"][0][0]["version"] == platform.python_version()
        ((labels, value),) = samples["relay_build_info"]
        assert value == 1
        assert labels["python"] == platform.python_version()
        assert labels["commit"] == build_commit() != ""
        assert labels["version"]

    @pytest.mark.parametrize(("checks", "expected"), [
        ({"mongodb": True, "rabbitmq": True}, 1.0),
        ({"mongodb": True, "rabbitmq": False}, 0.0),
    ])
    async def test_ready_follows_the_readiness_checks(
        self, checks: dict[str, bool], expected: float
    ) -> None:
        assert (await scrape(checks))["relay_ready"] == [({}, expected)]

    def test_registering_twice_on_one_registry_is_harmless(self) -> None:
        registry = CollectorRegistry()
        assert runtime_metrics(registry) is runtime_metrics(registry)

    def test_the_commit_comes_from_the_build_when_set(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("RELAY_BUILD_COMMIT", "abc1234")
        assert build_commit() == "abc1234"
