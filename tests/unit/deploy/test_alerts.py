"""Relay's alert rules: valid for Prometheus (``promtool check rules``), every alert unit-tested
(``promtool test rules``), each with the annotations an on-call needs, and the PrometheusRule in
the kustomize base is exactly the plain rules file's groups (one source, no second copy)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.manifests import KUSTOMIZATIONS, ROOT, SERVICES, named, of_kind, render
from tests.unit.test_dashboard import defined_metrics, series_names

pytestmark = pytest.mark.unit

PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "relay-alerts.rules.yaml"
TESTS = PROMETHEUS / "relay-alerts.test.yaml"
SEVERITIES = {"critical", "warning", "info"}
# Series Prometheus itself makes; every other name an alert reads must be one Relay exports.
PROMETHEUS_SERIES = {"up"}


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not on PATH: run scripts/ensure-promtool.sh (make test does)")
    return subprocess.run([path, *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False)


def alerts(rules: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    groups = (rules or yaml.safe_load(RULES.read_text()))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


class TestPromtool:
    """promtool accepts the rules and every alert's unit tests pass."""

    def test_check_rules(self) -> None:
        result = promtool("check", "rules", str(RULES))
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"SUCCESS: {len(alerts())} rules found" in result.stdout

    def test_rule_unit_tests_pass(self) -> None:
        result = promtool("test", "rules", str(TESTS))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_every_alert_is_tested_firing(self) -> None:
        fired = {case["alertname"] for test in yaml.safe_load(TESTS.read_text())["tests"]
                 for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
        assert fired == {rule["alert"] for rule in alerts()}

    def test_the_unit_tests_catch_a_changed_threshold(self, tmp_path: Path) -> None:
        rules = yaml.safe_load(RULES.read_text())
        for rule in alerts(rules):
            if rule["alert"] == "RelayDeadLetters":
                rule["expr"] = "max(relay_dead_letters) > 10"
        (tmp_path / RULES.name).write_text(yaml.safe_dump(rules))
        shutil.copy(TESTS, tmp_path / TESTS.name)
        result = promtool("test", "rules", TESTS.name, cwd=tmp_path)
        assert result.returncode != 0
        assert "RelayDeadLetters" in result.stdout + result.stderr


class TestAlertContent:
    """Each alert says how bad it is, what happened, and what to do; it reads real metrics."""

    @pytest.mark.parametrize("rule", alerts(), ids=lambda rule: rule["alert"])
    def test_severity_summary_description_runbook(self, rule: dict[str, Any]) -> None:
        assert rule["labels"]["severity"] in SEVERITIES
        for key in ("summary", "description", "runbook"):
            assert len(rule["annotations"][key]) > 20, (rule["alert"], key)

    @pytest.mark.parametrize("rule", alerts(), ids=lambda rule: rule["alert"])
    def test_reads_only_metrics_relay_exports(self, rule: dict[str, Any]) -> None:
        exported = set(series_names(defined_metrics())) | PROMETHEUS_SERIES
        names = _metric_names(rule["expr"])
        assert names, rule["expr"]
        assert names <= exported, names - exported


def _metric_names(expr: str) -> set[str]:
    """The metric names (``relay_*`` and ``up``) a PromQL expression of ours reads."""
    words = set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*[{\[]", expr))
    words |= set(re.findall(r"\(\s*([a-z_][a-z0-9_]*)\s*\)", expr))
    words |= set(re.findall(r"^\s*([a-z_][a-z0-9_]*)\b", expr))
    return {w for w in words if w.startswith("relay_") or w == "up"}


class TestPrometheusRuleManifest:
    """The PrometheusRule the base renders is generated from the rules file, unchanged."""

    def test_committed_manifest_is_what_the_generator_makes(self) -> None:
        generated = subprocess.run(
            [sys.executable, str(PROMETHEUS / "prometheusrule.py")],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
        committed = (ROOT / "deploy" / "k8s" / "base" / "prometheusrule.yaml").read_text()
        assert committed == generated, "run: python deploy/prometheus/prometheusrule.py --write"

    @pytest.mark.parametrize("where", KUSTOMIZATIONS)
    def test_rendered_rule_holds_the_rules_files_groups(self, where: str) -> None:
        rule = named(render(where), "PrometheusRule", "relay-alerts")
        assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]

    @pytest.mark.parametrize("where", KUSTOMIZATIONS)
    def test_scrape_jobs_are_the_names_the_alerts_match(self, where: str) -> None:
        # Without a jobLabel the Prometheus Operator names the job after the Service.
        objects = render(where)
        (down,) = [r for r in alerts() if r["alert"] == "RelayServiceDown"]
        matcher = re.search(r'job=~"([^"]+)"', down["expr"])
        assert matcher is not None
        for monitor in of_kind(objects, "ServiceMonitor"):
            assert "jobLabel" not in monitor["spec"]
        jobs = {s["metadata"]["name"] for s in of_kind(objects, "Service")}
        assert jobs == {f"relay-{service}" for service in SERVICES}
        assert all(re.fullmatch(matcher.group(1), job) for job in jobs)
