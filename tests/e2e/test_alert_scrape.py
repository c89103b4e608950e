"""Issue 20, acceptance 3: the dead-letter alert fires from a real scrape.

The stats process runs as its own OS process on the real broker; an event it cannot parse is
rejected by its consumer and dead-lettered into ``relay.dead`` by RabbitMQ; its ``/metrics`` is
scraped over HTTP, and the scrape becomes the input series of a ``promtool test rules`` run of
``deploy/prometheus/relay-alerts.rules.yaml``: ``RelayDeadLetters`` fires on the scrape taken
after the dead letter, and not on the one taken before it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from shared import topology
from shared.broker import Broker
from shared.settings import Settings
from tests.conftest import eventually
from tests.harness import Stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "relay-alerts.rules.yaml"
MINUTES = 10  # each scraped value is held this long, past the alert's `for: 5m`


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def as_series(scrape: str, *, job: str, instance: str) -> list[dict[str, str]]:
    """promtool input series from a /metrics answer: every ``relay_*`` sample, labelled as
    Prometheus would (job, instance), held at its scraped value for :data:`MINUTES`."""
    series = [{"series": f'up{{job="{job}", instance="{instance}"}}', "values": f"1x{MINUTES}"}]
    for family in text_string_to_metric_families(scrape):
        for sample in family.samples:
            if not sample.name.startswith("relay_"):
                continue
            labels = {**sample.labels, "job": job, "instance": instance}
            selector = ", ".join(f"{k}={_quote(v)}" for k, v in sorted(labels.items()))
            series.append({"series": f"{sample.name}{{{selector}}}",
                           "values": f"{sample.value:g}x{MINUTES}"})
    return series


def dead_letter_annotations(count: int) -> dict[str, str]:
    """The annotations RelayDeadLetters renders for ``count`` (its only template is $value)."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    (rule,) = [r for g in groups for r in g["rules"] if r.get("alert") == "RelayDeadLetters"]
    return {k: v.replace("{{ $value }}", str(count)) for k, v in rule["annotations"].items()}


def promtool_test(tmp_path: Path, cases: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not on PATH: run scripts/ensure-promtool.sh (make test does)")
    shutil.copy(RULES, tmp_path / RULES.name)
    (tmp_path / "scrape.test.yaml").write_text(yaml.safe_dump(
        {"rule_files": [RULES.name], "evaluation_interval": "1m", "tests": cases}))
    return subprocess.run([path, "test", "rules", "scrape.test.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)


async def scrape(http: aiohttp.ClientSession, port: int) -> str:
    async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        return await response.text()


def dead_letters(text: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "relay_dead_letters":
                return sample.value
    return None


class TestDeadLetterAlertFromARealScrape:
    async def test_a_dead_lettered_event_fires_relay_dead_letters(
        self, stack: Stack, settings: Settings, broker: Broker, http: aiohttp.ClientSession,
        tmp_path: Path,
    ) -> None:
        stack.start("stats")
        port, instance = settings.stats_port, f"127.0.0.1:{settings.stats_port}"

        async def polled(expected: float) -> str | None:
            text = await scrape(http, port)
            return text if dead_letters(text) == expected else None

        before = await eventually(lambda: polled(0), timeout=20, message="relay.dead polled")
        # Not an event: the stats consumer rejects it and RabbitMQ dead-letters it.
        await broker.publish(topology.EVENTS, "message.sent", b'{"not": "an event"}')
        after = await eventually(lambda: polled(1), timeout=20,
                                 message="relay_dead_letters 1 on /metrics")

        fired = {"eval_time": "6m", "alertname": "RelayDeadLetters", "exp_alerts": [
            {"exp_labels": {"severity": "warning"},
             "exp_annotations": dead_letter_annotations(1)}]}
        quiet = {"eval_time": "6m", "alertname": "RelayDeadLetters", "exp_alerts": []}
        result = promtool_test(tmp_path, [
            {"name": "after the dead letter", "interval": "1m",
             "input_series": as_series(after, job="relay-stats", instance=instance),
             "alert_rule_test": [fired]},
            {"name": "before it", "interval": "1m",
             "input_series": as_series(before, job="relay-stats", instance=instance),
             "alert_rule_test": [quiet]},
        ])
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout
