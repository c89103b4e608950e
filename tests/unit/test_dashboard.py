"""The Grafana dashboard is valid dashboard JSON and queries only metrics Relay defines."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "relay-dashboard.json"
SCHEMA = ROOT / "deploy" / "grafana" / "dashboard.schema.json"
METRIC_TYPES = {"Counter", "Gauge", "Histogram", "Summary"}


def defined_metrics() -> dict[str, tuple[str, set[str]]]:
    """Every metric a service's ``metrics.py`` or ``shared/observability.py`` defines:
    name -> (type, label names), read from the source without importing it."""
    sources = [*ROOT.glob("services/*/*/metrics.py"), ROOT / "shared" / "observability.py"]
    found: dict[str, tuple[str, set[str]]] = {}
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in METRIC_TYPES and node.args
                    and isinstance(node.args[0], ast.Constant)):
                continue
            labels_node = node.args[2] if len(node.args) > 2 else next(
                (k.value for k in node.keywords if k.arg == "labelnames"), None)
            labels = {e.value for e in getattr(labels_node, "elts", [])
                      if isinstance(e, ast.Constant)}
            found[node.args[0].value] = (node.func.id, labels)
    return found


def series_names(metrics: dict[str, tuple[str, set[str]]]) -> dict[str, tuple[str, set[str]]]:
    """The names Prometheus stores for each metric (histogram buckets, counter ``_total``)."""
    series: dict[str, tuple[str, set[str]]] = {}
    for name, (kind, labels) in metrics.items():
        if kind == "Histogram":
            series[f"{name}_bucket"] = (kind, labels | {"le"})
            series[f"{name}_sum"] = series[f"{name}_count"] = (kind, labels)
        elif kind == "Counter":
            series[name if name.endswith("_total") else f"{name}_total"] = (kind, labels)
        else:
            series[name] = (kind, labels)
    return series


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def exprs() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in dashboard()["panels"] for t in p["targets"]]


class TestDashboardJson:
    """The JSON validates against the dashboard-model schema and lays out on Grafana's grid."""

    def test_schema_is_a_valid_json_schema(self) -> None:
        Draft202012Validator.check_schema(json.loads(SCHEMA.read_text()))

    def test_dashboard_validates(self) -> None:
        validator = Draft202012Validator(json.loads(SCHEMA.read_text()))
        errors = sorted(validator.iter_errors(dashboard()), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)

    def test_the_schema_rejects_a_panel_without_targets(self) -> None:
        broken = dashboard()
        del broken["panels"][0]["targets"]
        assert not Draft202012Validator(json.loads(SCHEMA.read_text())).is_valid(broken)

    def test_panel_ids_are_unique_and_panels_do_not_overlap(self) -> None:
        panels = dashboard()["panels"]
        assert len({p["id"] for p in panels}) == len(panels)
        cells: set[tuple[int, int]] = set()
        for panel in panels:
            g = panel["gridPos"]
            assert g["x"] + g["w"] <= 24, panel["title"]
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                    for y in range(g["y"], g["y"] + g["h"])}
            assert not cells & mine, f"{panel['title']} overlaps another panel"
            cells |= mine

    def test_datasource_variable_is_declared(self) -> None:
        variables = {v["name"] for v in dashboard()["templating"]["list"]}
        for panel in dashboard()["panels"]:
            uid = panel["datasource"]["uid"]
            if uid.startswith("$"):
                assert uid.strip("${}") in variables


class TestDashboardQueriesRealMetrics:
    """Each panel queries metrics some service defines, with labels those metrics have."""

    def test_the_source_parser_finds_the_known_metrics(self) -> None:
        metrics = defined_metrics()
        assert "relay_http_request_duration_seconds" in metrics
        assert metrics["relay_projection_events_total"] == ("Counter", {"outcome"})

    @pytest.mark.parametrize(("title", "expr"), exprs())
    def test_every_metric_in_an_expr_is_defined(self, title: str, expr: str) -> None:
        series = series_names(defined_metrics())
        used = set(re.findall(r"\brelay_[a-z0-9_]+\b", expr))
        assert used, f"panel {title!r} queries no Relay metric"
        assert used <= set(series), f"panel {title!r}: undefined {sorted(used - set(series))}"
        labels = set().union(*(series[name][1] for name in used))
        grouped = {label.strip() for clause in re.findall(r"\bby\s*\(([^)]*)\)", expr)
                   for label in clause.split(",") if label.strip()}
        selectors = " ".join(re.findall(r"\{([^}]*)\}", expr))
        matched = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selectors))
        assert grouped | matched <= labels, f"panel {title!r}: unknown labels"

    def test_the_issue_s_metrics_each_have_a_panel(self) -> None:
        text = " ".join(expr for _, expr in exprs())
        for name in (
            "relay_gateway_messages_accepted_total", "relay_http_request_duration_seconds_bucket",
            "relay_sends_total", "relay_send_duration_seconds_bucket",
            "relay_pacing_deferrals_total", "relay_send_retries_total", "relay_webhooks_total",
            "relay_webhook_events_total", "relay_projection_lag_seconds", "relay_queue_depth",
            "relay_dead_letters",
        ):
            assert name in text, name
