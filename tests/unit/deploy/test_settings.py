"""The ConfigMap, the Secret example and the Deployments' env give every Relay setting, and a
container's environment loads into valid :class:`Settings` for its service."""

from __future__ import annotations

import os
import re

import pytest

from shared.settings import Settings, load_settings
from tests.unit.deploy.manifests import (
    EXAMPLES,
    KUSTOMIZATIONS,
    ROOT,
    SERVICES,
    Obj,
    containers,
    load_file,
    named,
    of_kind,
    render,
)

pytestmark = pytest.mark.unit

SECRET_SETTINGS = {"RELAY_WHATSAPP_APP_SECRET", "RELAY_WHATSAPP_VERIFY_TOKEN",
                   "RELAY_SECRET_KEY", "RELAY_AMQP_URL", "RELAY_MONGODB_URL"}
# Settings of the built-in simulator, which a cluster never runs (RELAY_WHATSAPP_API_URL is set).
NOT_IN_A_CLUSTER = {"RELAY_SIM_PORT", "RELAY_SIM_WEBHOOK_URL", "RELAY_SIM_STATUS_DELAY_SECONDS"}
# Stand-ins for what the operators generate into their secrets.
OPERATOR_VALUES = {
    ("relay-rabbitmq-default-user", "username"): "default_user_abc",
    ("relay-rabbitmq-default-user", "password"): "s3cretPassw0rd",
    ("relay-mongodb-relay", "connectionString.standard"): (
        "mongodb://relay:pw@relay-mongodb-0.relay-mongodb-svc.relay.svc.cluster.local:27017,"
        "relay-mongodb-1.relay-mongodb-svc.relay.svc.cluster.local:27017/admin"
        "?replicaSet=relay-mongodb&ssl=false"),
}


AMQP_URLS = {
    "plain": "amqp://default_user_abc:s3cretPassw0rd@relay-rabbitmq.relay.svc:5672/",
    "tls": "amqps://default_user_abc:s3cretPassw0rd@relay-rabbitmq.relay.svc:5671/"
           "?cafile=/etc/relay/tls/rabbitmq/ca.crt",
}


def setting_names() -> set[str]:
    """Every ``RELAY_*`` variable that :class:`Settings` reads."""
    return {f"RELAY_{name.upper()}" for name in Settings.model_fields}


def example_secrets() -> dict[str, dict[str, str]]:
    return {s["metadata"]["name"]: s["stringData"] for path in EXAMPLES
            for s in load_file(path) if s["kind"] == "Secret"}


def config_data(objects: list[Obj]) -> dict[str, str]:
    (config,) = of_kind(objects, "ConfigMap")
    data: dict[str, str] = config["data"]
    return data


def container_env(objects: list[Obj], deployment: Obj) -> dict[str, str]:
    """The environment Kubernetes would give the container: envFrom, then env in order,
    with ``$(VAR)`` references expanded as the kubelet does."""
    (container,) = containers(deployment)
    env = dict(config_data(objects))
    env.update(example_secrets()["relay-secrets"])
    for var in container["env"]:
        if "value" in var:
            env[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), var["value"])
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = OPERATOR_VALUES[(ref["name"], ref["key"])]
    return env


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("RELAY_", "AWS_")):
            monkeypatch.delenv(name)
    return monkeypatch


class TestEverySettingIsConfigured:
    """Each setting comes from exactly one place: the ConfigMap or a Secret."""

    @pytest.mark.parametrize("where", KUSTOMIZATIONS)
    def test_configmap_and_secrets_cover_every_setting(self, where: str) -> None:
        config = set(config_data(render(where)))
        secret = set(example_secrets()["relay-secrets"])
        assert setting_names() - NOT_IN_A_CLUSTER <= config | secret
        assert not NOT_IN_A_CLUSTER & (config | secret)

    @pytest.mark.parametrize("where", KUSTOMIZATIONS)
    def test_no_secret_in_the_configmap(self, where: str) -> None:
        config = config_data(render(where))
        assert not SECRET_SETTINGS & set(config)
        assert not {k for k in config if "SECRET" in k or "PASSWORD" in k}

    def test_configmap_names_only_real_settings(self) -> None:
        unknown = {k for k in config_data(render("base")) if k.startswith("RELAY_")}
        assert unknown <= setting_names()

    def test_secret_example_holds_placeholders_only(self) -> None:
        for name, data in example_secrets().items():
            for key, value in data.items():
                assert re.search(r"<[a-z0-9-]+>", value), f"{name}.{key} looks like a real value"

    def test_secret_example_has_the_documented_keys(self) -> None:
        keys = set(example_secrets()["relay-secrets"])
        assert keys == SECRET_SETTINGS | {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


class TestContainersLoadValidSettings:
    """A container's environment passes Relay's own settings validation."""

    @pytest.mark.parametrize("where", KUSTOMIZATIONS)
    @pytest.mark.parametrize("service", sorted(SERVICES))
    def test_environment_loads(
        self, where: str, service: str, clean_environ: pytest.MonkeyPatch
    ) -> None:
        objects = render(where)
        env = container_env(objects, named(objects, "Deployment", f"relay-{service}"))
        for key, value in env.items():
            clean_environ.setenv(key, value)
        settings = load_settings()
        assert settings.host == "0.0.0.0"
        assert getattr(settings, f"{service}_port") == SERVICES[service]
        assert settings.amqp_url == AMQP_URLS["tls" if where.endswith("-tls") else "plain"]
        assert settings.mongodb_url == OPERATOR_VALUES[
            ("relay-mongodb-relay", "connectionString.standard")]
        assert settings.cloud_api_url == "https://graph.facebook.com"
        assert settings.media_store.startswith("s3://")
        assert str(settings.data_dir).startswith("/tmp/")
        assert env["RELAY_SERVICE"] == service

    def test_operator_secrets_win_over_the_secret_example(self) -> None:
        objects = render("base")
        env = container_env(objects, named(objects, "Deployment", "relay-sender"))
        assert "<" not in env["RELAY_AMQP_URL"] and "<" not in env["RELAY_MONGODB_URL"]


class TestReadmeDocumentsEverySetting:
    """deploy/README.md has a row for every setting Relay reads."""

    def test_every_setting_has_a_row(self) -> None:
        readme = (ROOT / "deploy" / "README.md").read_text()
        rows = set(re.findall(r"^\| `(RELAY_\w+)`", readme, flags=re.MULTILINE))
        assert setting_names() <= rows
