"""Every rendered object validates offline, in strict mode, against the Kubernetes schemas or
(for the operators' custom resources) our schemas of their published field names."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.unit.deploy.manifests import (
    EXAMPLES,
    KUSTOMIZATIONS,
    Obj,
    crd_schema,
    is_custom,
    load_file,
    named,
    render,
)

pytestmark = pytest.mark.unit

# The oldest and the newest Kubernetes minor versions we promise to run on.
K8S_VERSIONS = ("1.30.0", "1.33.0")
CUSTOM_KINDS = {"RabbitmqCluster", "MongoDBCommunity", "ServiceMonitor", "PodMonitor",
                "PrometheusRule"}


def validate(obj: Obj, version: str = K8S_VERSIONS[0]) -> None:
    """Validate one object; raise on any unknown field, wrong type or missing field."""
    if is_custom(obj):
        jsonschema.Draft202012Validator(crd_schema(obj["kind"])).validate(obj)
    else:
        kubernetes_validate.validate(obj, version, strict=True)


def _label(obj: Obj) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _all_objects() -> list[tuple[str, Obj]]:
    found = [(where, obj) for where in KUSTOMIZATIONS for obj in render(where)]
    found += [(path.name, obj) for path in EXAMPLES for obj in load_file(path)]
    return found


class TestRenderedObjectsValidate:
    """Each overlay renders, and every object in it passes strict offline validation."""

    @pytest.mark.parametrize("where", KUSTOMIZATIONS)
    def test_renders_the_expected_kinds(self, where: str) -> None:
        kinds = {obj["kind"] for obj in render(where)}
        expected = {"Namespace", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget",
                    "HorizontalPodAutoscaler", "NetworkPolicy", "Ingress", *CUSTOM_KINDS}
        if where.startswith("overlays/prod"):
            expected |= {"ScaledObject", "TriggerAuthentication"}
        assert kinds == expected

    @pytest.mark.parametrize("version", K8S_VERSIONS)
    def test_every_object_validates_strictly(self, version: str) -> None:
        errors = []
        for where, obj in _all_objects():
            try:
                validate(obj, version)
            except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
                errors.append(f"{where}: {_label(obj)}: {exc.message}")
        assert errors == []

    def test_every_object_is_in_the_relay_namespace(self) -> None:
        for where, obj in _all_objects():
            if obj["kind"] != "Namespace":
                assert obj["metadata"].get("namespace") == "relay", f"{where}: {_label(obj)}"


def _with(obj: Obj, path: list[str | int], value: Any) -> Obj:
    """A deep copy of ``obj`` with ``value`` set at ``path``."""
    changed = copy.deepcopy(obj)
    target: Any = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


PROD = "overlays/prod"
UNKNOWN_FIELDS = [
    ("Deployment", "relay-gateway", ["spec", "template", "spec", "containers", 0, "livenesProbe"]),
    ("Deployment", "relay-sender", ["spec", "template", "spec", "securityContext", "runAsUsr"]),
    ("NetworkPolicy", "default-deny", ["spec", "podSelectors"]),
    ("RabbitmqCluster", "relay-rabbitmq", ["spec", "replica"]),
    ("RabbitmqCluster", "relay-rabbitmq", ["spec", "rabbitmq", "additionalConf"]),
    ("MongoDBCommunity", "relay-mongodb", ["spec", "member"]),
    ("MongoDBCommunity", "relay-mongodb", ["spec", "users", 0, "passwordSecret"]),
    ("MongoDBCommunity", "relay-mongodb", ["spec", "security", "authentication", "mode"]),
    ("ServiceMonitor", "relay-sender", ["spec", "endpoints", 0, "portName"]),
    ("PodMonitor", "relay-rabbitmq", ["spec", "endpoints"]),
]


class TestValidationFailsOnMistakes:
    """The validation is not vacuous: a misspelt field or a wrong type is refused."""

    @pytest.mark.parametrize(("kind", "name", "path"), UNKNOWN_FIELDS)
    def test_an_unknown_field_fails(self, kind: str, name: str, path: list[str | int]) -> None:
        obj = _with(named(render(PROD), kind, name), path, "x")
        with pytest.raises((kubernetes_validate.ValidationError, jsonschema.ValidationError)):
            validate(obj)

    def test_a_wrong_type_fails(self) -> None:
        obj = _with(named(render(PROD), "RabbitmqCluster", "relay-rabbitmq"),
                    ["spec", "replicas"], "three")
        with pytest.raises(jsonschema.ValidationError):
            validate(obj)

    def test_a_missing_required_field_fails(self) -> None:
        obj = named(render(PROD), "MongoDBCommunity", "relay-mongodb")
        del obj["spec"]["users"][0]["scramCredentialsSecretName"]
        with pytest.raises(jsonschema.ValidationError):
            validate(obj)


def _pod(spec: Obj) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "fragment"}, "spec": spec}


class TestEmbeddedCoreFragments:
    """Core Kubernetes types embedded in the custom resources (affinity, the StatefulSet
    override) validate against the core schemas too: our CRD schemas leave them open."""

    @pytest.mark.parametrize("where", KUSTOMIZATIONS)
    def test_rabbitmq_affinity_is_a_core_affinity(self, where: str) -> None:
        cluster = named(render(where), "RabbitmqCluster", "relay-rabbitmq")
        affinity = cluster["spec"].get("affinity", {})
        validate(_pod({"containers": [{"name": "rabbitmq"}], "affinity": affinity}))

    @pytest.mark.parametrize("where", KUSTOMIZATIONS)
    def test_mongodb_statefulset_override_is_core(self, where: str) -> None:
        override = named(render(where), "MongoDBCommunity", "relay-mongodb")["spec"]["statefulSet"]
        validate(_pod(override["spec"]["template"]["spec"]))
        for claim in override["spec"].get("volumeClaimTemplates", []):
            validate({"apiVersion": "v1", "kind": "PersistentVolumeClaim", **claim})
