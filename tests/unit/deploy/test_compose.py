"""docker-compose.yml, checked offline (no Docker engine here): it validates against the Compose
Specification's JSON schema (vendored in tests/data/schemas/), names only real settings, loads
into valid :class:`Settings` for each service, and wires MongoDB, Prometheus and Grafana up to
the files in deploy/."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shared.settings import load_settings
from tests.unit.deploy.manifests import ROOT, SERVICES
from tests.unit.deploy.test_settings import setting_names

pytestmark = pytest.mark.unit

COMPOSE = ROOT / "docker-compose.yml"
SCHEMAS = ROOT / "tests" / "data" / "schemas"
ENV_EXAMPLE = ROOT / "deploy" / "compose" / "env.example"
PROMETHEUS = ROOT / "deploy" / "compose" / "prometheus.yml"
# Read by the image's HEALTHCHECK (deploy/docker/healthcheck.py), not by Settings.
NOT_SETTINGS = {"RELAY_SERVICE"}
VARIABLE = re.compile(r"\$(?:\{(\w+)(?:(:?[-?])([^}]*))?\}|(\$))")
Obj = dict[str, Any]


@cache
def compose() -> Obj:
    loaded: Obj = yaml.safe_load(COMPOSE.read_text())
    return loaded


def schema_errors(document: Obj) -> list[str]:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$`` substitution."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument, dollar = match.groups()
        if dollar:
            return "$"
        given = env.get(name, "")
        if operator == ":?" and not given:
            raise ValueError(f"{name} is required: {argument}")
        if operator == ":-" and not given:
            return str(argument)
        return given

    return VARIABLE.sub(one, value)


def example_env() -> dict[str, str]:
    """deploy/compose/env.example with every empty value filled in, as a user would."""
    env = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value or f"filled-in-{name.lower().replace('_', '-')}-0123456789"
    return env


def environment(service: str, env: Mapping[str, str]) -> dict[str, str]:
    given = compose()["services"][service].get("environment", {})
    return {name: interpolate(str(value), env) for name, value in given.items()}


class TestComposeSpecification:
    def test_the_file_validates_against_the_schema(self) -> None:
        assert schema_errors(compose()) == []

    @pytest.mark.parametrize(("path", "value"), [
        (("servics",), {}),
        (("services", "gateway", "restart"), 5),
        (("services", "gateway", "depends_on", "rabbitmq", "condition"), "service_happy"),
        (("services", "mongodb", "healthcheck", "interval"), ["5s"]),
        (("volumes", "relay-data"), "not-a-volume"),
    ])
    def test_a_broken_file_is_refused(self, path: tuple[str, ...], value: object) -> None:
        broken = json.loads(json.dumps(compose()))
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        assert schema_errors(broken)

    def test_the_schema_is_the_compose_specification(self) -> None:
        schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
        assert schema["title"] == "Compose Specification"
        assert (SCHEMAS / "LICENSE.compose-spec").exists()

    def test_every_image_is_pinned_to_a_version(self) -> None:
        for name, service in compose()["services"].items():
            image = service["image"]
            tag = image.rpartition(":")[2] if ":" in image else ""
            assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image}"


class TestRelayServices:
    def test_every_service_and_its_dependencies_are_there(self) -> None:
        assert set(compose()["services"]) == {
            *SERVICES, "rabbitmq", "mongodb", "prometheus", "grafana"}

    @pytest.mark.parametrize("service", sorted(SERVICES))
    def test_runs_relay_serve_from_this_repository_s_image(self, service: str) -> None:
        spec = compose()["services"][service]
        assert spec["command"] == [service]  # the image's ENTRYPOINT is `relay serve`
        assert spec["build"] == "."
        assert spec["environment"]["RELAY_SERVICE"] == service
        assert spec["depends_on"]["mongodb"]["condition"] == "service_healthy"
        assert spec["depends_on"]["rabbitmq"]["condition"] == "service_healthy"

    @pytest.mark.parametrize("service", sorted(SERVICES))
    def test_names_only_real_settings(self, service: str) -> None:
        names = set(compose()["services"][service]["environment"])
        assert names - NOT_SETTINGS <= setting_names()

    def test_a_misspelt_setting_would_be_caught(self) -> None:
        assert "RELAY_AMQP_URI" not in setting_names()

    @pytest.mark.parametrize("service", sorted(SERVICES))
    def test_environment_loads_as_production_settings(
        self, service: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name in [n for n in os.environ if n.startswith("RELAY_")]:
            monkeypatch.delenv(name)
        for name, value in environment(service, example_env()).items():
            monkeypatch.setenv(name, value)
        settings = load_settings()
        assert settings.env == "production"
        assert settings.host == "0.0.0.0"
        assert getattr(settings, f"{service}_port") == SERVICES[service]
        assert settings.mongodb_url and "replicaSet=rs0" in settings.mongodb_url
        assert settings.amqp_url.startswith("amqp://relay:filled-in-rabbitmq-password")

    def test_an_empty_secret_stops_compose(self) -> None:
        env = example_env() | {"RELAY_SECRET_KEY": ""}
        with pytest.raises(ValueError, match="RELAY_SECRET_KEY is required"):
            environment("gateway", env)

    def test_every_variable_compose_reads_is_in_the_example(self) -> None:
        used = {m[1] for m in VARIABLE.finditer(COMPOSE.read_text()) if m[1]}
        assert used <= set(example_env())


class TestDependencies:
    def test_mongodb_is_a_one_member_replica_set_initiated_by_its_healthcheck(self) -> None:
        mongodb = compose()["services"]["mongodb"]
        command = mongodb["command"]
        replica_set = command[command.index("--replSet") + 1]
        check = " ".join(mongodb["healthcheck"]["test"])
        assert f"rs.initiate({{_id: '{replica_set}'" in check
        assert "host: 'mongodb:27017'" in check and "isWritablePrimary" in check
        url = compose()["x-relay-environment"]["RELAY_MONGODB_URL"]
        assert url == f"mongodb://mongodb:27017/?replicaSet={replica_set}"

    def test_rabbitmq_is_the_management_image_with_its_prometheus_plugin(self) -> None:
        rabbitmq = compose()["services"]["rabbitmq"]
        assert rabbitmq["image"].startswith("rabbitmq:") and "management" in rabbitmq["image"]
        plugins = (ROOT / "deploy/compose/rabbitmq/enabled_plugins").read_text()
        assert "rabbitmq_prometheus" in plugins and "rabbitmq_management" in plugins

    def test_every_bind_mount_is_a_file_of_this_repository(self) -> None:
        mounts = [volume.split(":")[0] for service in compose()["services"].values()
                  for volume in service.get("volumes", []) if volume.startswith("./")]
        assert mounts
        for mount in mounts:
            assert (ROOT / mount).is_file(), mount


class TestMonitoring:
    def test_prometheus_scrapes_every_service_as_the_rules_expect(self) -> None:
        config = yaml.safe_load(PROMETHEUS.read_text())
        targets = {job["job_name"]: job["static_configs"][0]["targets"]
                   for job in config["scrape_configs"]}
        for service, port in SERVICES.items():
            assert targets[f"relay-{service}"] == [f"{service}:{port}"]
        assert targets["rabbitmq"] == ["rabbitmq:15692"]

    def test_prometheus_loads_the_rules_file_of_deploy_prometheus(self) -> None:
        config = yaml.safe_load(PROMETHEUS.read_text())
        (rules,) = config["rule_files"]
        assert (PROMETHEUS.parent / rules).resolve() == (
            ROOT / "deploy/prometheus/relay-alerts.rules.yaml")
        volumes = compose()["services"]["prometheus"]["volumes"]
        assert ("./deploy/prometheus/relay-alerts.rules.yaml:"
                "/etc/prometheus/prometheus/relay-alerts.rules.yaml:ro") in volumes
        assert ("./deploy/compose/prometheus.yml:/etc/prometheus/compose/prometheus.yml:ro"
                in volumes)

    def test_promtool_accepts_the_config(self) -> None:
        promtool = shutil.which("promtool")
        assert promtool, "promtool is missing: apt-get install prometheus (make test does)"
        result = subprocess.run([promtool, "check", "config", str(PROMETHEUS)],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_grafana_is_provisioned_with_the_existing_dashboard(self) -> None:
        volumes = compose()["services"]["grafana"]["volumes"]
        (dashboard,) = [v for v in volumes if v.startswith("./deploy/grafana/")]
        source, target, _ = dashboard.split(":")
        assert source == "./deploy/grafana/relay-dashboard.json"
        provider = yaml.safe_load((ROOT / "deploy/compose/grafana/dashboards.yaml").read_text())
        assert Path(target).parent == Path(provider["providers"][0]["options"]["path"])
        datasources = yaml.safe_load(
            (ROOT / "deploy/compose/grafana/datasources.yaml").read_text())
        assert datasources["datasources"][0]["url"] == "http://prometheus:9090"


def test_the_env_file_with_the_secrets_is_never_committed() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored
    assert ENV_EXAMPLE.name != ".env"
