"""Cluster policies every overlay keeps: hardened, probed, bounded pods on pinned images;
disruption budgets, autoscalers, Services and NetworkPolicies that point at real things."""

from __future__ import annotations

import re

import pytest

from tests.unit.deploy.manifests import (
    EXAMPLES,
    OVERLAYS,
    ROOT,
    SERVICES,
    Obj,
    containers,
    load_file,
    named,
    of_kind,
    pod_labels,
    render,
    selects,
)

pytestmark = pytest.mark.unit

ALL = ("base", *OVERLAYS)
# Who owns each Deployment's replica count: CPU HPAs, or KEDA ScaledObjects on queue depth.
AUTOSCALED = {
    "base": {"hpa": {"relay-gateway", "relay-sender"}, "keda": set()},
    "overlays/dev": {"hpa": {"relay-gateway", "relay-sender"}, "keda": set()},
    "overlays/prod": {"hpa": {"relay-gateway"}, "keda": {"relay-sender", "relay-ingest"}},
    "overlays/prod-tls": {"hpa": {"relay-gateway"}, "keda": {"relay-sender", "relay-ingest"}},
}
PINNED = re.compile(r"^[\w.\-/:]+:(?!latest$)[\w][\w.\-]{0,127}(@sha256:[0-9a-f]{64})?$")


def _deployments(where: str) -> list[Obj]:
    return of_kind(render(where), "Deployment")


def _ports(container: Obj) -> dict[str, int]:
    return {port["name"]: port["containerPort"] for port in container.get("ports", [])}


class TestContainersAreHardened:
    """Every container runs non-root, read-only, unprivileged, with probes and limits."""

    @pytest.mark.parametrize("where", ALL)
    def test_pod_security_context_is_restricted(self, where: str) -> None:
        for deployment in _deployments(where):
            pod = deployment["spec"]["template"]["spec"]
            context = pod["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context["runAsUser"] >= 10000
            assert context["fsGroup"] >= 10000
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}
            assert pod["automountServiceAccountToken"] is False

    @pytest.mark.parametrize("where", ALL)
    def test_pods_run_as_the_images_user(self, where: str) -> None:
        user = re.search(r"^USER (\d+):(\d+)$", (ROOT / "Dockerfile").read_text(), re.M)
        assert user is not None
        for deployment in _deployments(where):
            context = deployment["spec"]["template"]["spec"]["securityContext"]
            assert (context["runAsUser"], context["runAsGroup"]) == tuple(map(int, user.groups()))

    @pytest.mark.parametrize("where", ALL)
    def test_no_service_links(self, where: str) -> None:
        # Service links would inject RELAY_GATEWAY_PORT=tcp://... for the Service relay-gateway,
        # a clash with Relay's own RELAY_<SERVICE>_PORT settings.
        for deployment in _deployments(where):
            assert deployment["spec"]["template"]["spec"]["enableServiceLinks"] is False

    @pytest.mark.parametrize("where", ALL)
    def test_container_security_context_is_restricted(self, where: str) -> None:
        for deployment in _deployments(where):
            for container in containers(deployment):
                context = container["securityContext"]
                assert context["allowPrivilegeEscalation"] is False
                assert context["readOnlyRootFilesystem"] is True
                assert context["capabilities"] == {"drop": ["ALL"]}
                assert context.get("privileged", False) is False
                assert context.get("runAsUser", 10001) != 0

    @pytest.mark.parametrize("where", ALL)
    def test_tmp_is_a_writable_empty_dir(self, where: str) -> None:
        for deployment in _deployments(where):
            volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
            for container in containers(deployment):
                mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                assert "emptyDir" in volumes[mounts["/tmp"]]

    @pytest.mark.parametrize("where", ALL)
    def test_probes_hit_the_health_endpoints_on_the_service_port(self, where: str) -> None:
        for deployment in _deployments(where):
            (container,) = containers(deployment)
            service = container["args"][0]
            assert _ports(container) == {"http": SERVICES[service]}
            assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready",
                                                             "port": "http"}
            assert container["livenessProbe"]["httpGet"] == {"path": "/health/live",
                                                            "port": "http"}

    @pytest.mark.parametrize("where", ALL)
    def test_requests_and_limits_are_set_and_consistent(self, where: str) -> None:
        for deployment in _deployments(where):
            for container in containers(deployment):
                resources = container["resources"]
                for kind in ("requests", "limits"):
                    assert set(resources[kind]) == {"cpu", "memory"}, deployment["metadata"]
                assert _mebibytes(resources["requests"]["memory"]) <= _mebibytes(
                    resources["limits"]["memory"])

    @pytest.mark.parametrize("where", ALL)
    def test_images_are_pinned_never_latest(self, where: str) -> None:
        objects = render(where)
        images = [c["image"] for d in of_kind(objects, "Deployment") for c in containers(d)]
        images.append(named(objects, "RabbitmqCluster", "relay-rabbitmq")["spec"]["image"])
        for image in images:
            assert PINNED.match(image), f"{image} is untagged or :latest"

    def test_the_pin_check_catches_untagged_and_latest(self) -> None:
        assert not PINNED.match("registry.example.com/relay/relay")
        assert not PINNED.match("registry.example.com/relay/relay:latest")
        assert PINNED.match("registry.example.com/relay/relay:0.1.0")
        assert PINNED.match("localhost:5000/relay:0.1.0")

    @pytest.mark.parametrize("where", ALL)
    def test_sender_grace_covers_in_flight_sends(self, where: str) -> None:
        sender = named(render(where), "Deployment", "relay-sender")
        config = _config(render(where))
        timeout = float(config["RELAY_SEND_TIMEOUT_SECONDS"])
        grace = sender["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace >= 60 and grace >= 2 * timeout


def _mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    return float(quantity) / 2**20


def _config(objects: list[Obj]) -> dict[str, str]:
    (config,) = of_kind(objects, "ConfigMap")
    data: dict[str, str] = config["data"]
    return data


class TestWorkloadsRunRelay:
    """One Deployment per service, each running `relay serve <service>` from the image."""

    @pytest.mark.parametrize("where", ALL)
    def test_one_deployment_per_service(self, where: str) -> None:
        services = {c["args"][0] for d in _deployments(where) for c in containers(d)}
        assert services == set(SERVICES)
        for deployment in _deployments(where):
            (container,) = containers(deployment)
            assert "command" not in container, "the image's ENTRYPOINT is `relay serve`"
            assert deployment["metadata"]["name"] == f"relay-{container['args'][0]}"

    @pytest.mark.parametrize("where", ALL)
    def test_env_sources_exist(self, where: str) -> None:
        objects = render(where)
        secrets = {s["metadata"]["name"] for path in EXAMPLES for s in load_file(path)
                   if s["kind"] == "Secret"}
        operator_secrets = {"relay-rabbitmq-default-user", "relay-mongodb-relay"}
        config_names = {c["metadata"]["name"] for c in of_kind(objects, "ConfigMap")}
        for deployment in _deployments(where):
            for container in containers(deployment):
                for source in container["envFrom"]:
                    if "configMapRef" in source:
                        assert source["configMapRef"]["name"] in config_names
                    else:
                        assert source["secretRef"]["name"] in secrets
                for var in container["env"]:
                    ref = var.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        assert ref["name"] in operator_secrets | secrets


class TestEverythingPointsAtRealObjects:
    """Budgets, autoscalers, Services, monitors and the Ingress select what exists."""

    @pytest.mark.parametrize("where", ALL)
    def test_every_deployment_has_a_disruption_budget(self, where: str) -> None:
        objects = render(where)
        budgets = of_kind(objects, "PodDisruptionBudget")
        for name, labels in pod_labels(objects):
            covering = [b for b in budgets if selects(b["spec"]["selector"], labels)]
            assert len(covering) == 1, f"{name} is covered by {len(covering)} budgets"

    @pytest.mark.parametrize("where", ALL)
    def test_budgets_never_block_a_drain(self, where: str) -> None:
        for budget in of_kind(render(where), "PodDisruptionBudget"):
            assert budget["spec"].get("maxUnavailable", 0) >= 1

    @pytest.mark.parametrize("where", ALL)
    def test_autoscalers_target_existing_deployments(self, where: str) -> None:
        objects = render(where)
        targets = {h["spec"]["scaleTargetRef"]["name"]
                   for h in of_kind(objects, "HorizontalPodAutoscaler")}
        assert targets == AUTOSCALED[where]["hpa"]
        for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
            ref = hpa["spec"]["scaleTargetRef"]
            assert ref["kind"] == "Deployment" and ref["apiVersion"] == "apps/v1"
            named(objects, "Deployment", ref["name"])
            assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]

    @pytest.mark.parametrize("where", ALL)
    def test_keda_scales_sender_and_ingest_in_prod_only(self, where: str) -> None:
        objects = render(where)
        scaled = {s["spec"]["scaleTargetRef"]["name"] for s in of_kind(objects, "ScaledObject")}
        assert scaled == AUTOSCALED[where]["keda"]
        assert not scaled & AUTOSCALED[where]["hpa"], "KEDA makes its own HPA: two would fight"
        for scaled_object in of_kind(objects, "ScaledObject"):
            named(objects, "Deployment", scaled_object["spec"]["scaleTargetRef"]["name"])
            spec = scaled_object["spec"]
            assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
            for trigger in spec["triggers"]:
                assert trigger["type"] == "rabbitmq"
                named(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])

    @pytest.mark.parametrize("where", ALL)
    def test_the_sender_never_scales_past_the_shard_count(self, where: str) -> None:
        objects = render(where)
        shards = int(_config(objects)["RELAY_SEND_SHARDS"])
        maxima = [h["spec"]["maxReplicas"] for h in of_kind(objects, "HorizontalPodAutoscaler")
                  if h["spec"]["scaleTargetRef"]["name"] == "relay-sender"]
        maxima += [s["spec"]["maxReplicaCount"] for s in of_kind(objects, "ScaledObject")
                   if s["spec"]["scaleTargetRef"]["name"] == "relay-sender"]
        assert maxima and max(maxima) <= shards

    @pytest.mark.parametrize("where", ALL)
    def test_autoscaled_deployments_have_no_fixed_replicas(self, where: str) -> None:
        # A fixed spec.replicas is re-applied at every `kubectl apply` and fights the HPA.
        for name in AUTOSCALED[where]["hpa"] | AUTOSCALED[where]["keda"]:
            assert "replicas" not in named(render(where), "Deployment", name)["spec"], name

    @pytest.mark.parametrize("where", ALL)
    def test_services_select_pods_and_name_their_ports(self, where: str) -> None:
        objects = render(where)
        labels = dict(pod_labels(objects))
        for service in of_kind(objects, "Service"):
            chosen = [n for n, pod in labels.items()
                      if selects({"matchLabels": service["spec"]["selector"]}, pod)]
            assert len(chosen) == 1, service["metadata"]["name"]
            (container,) = containers(named(objects, "Deployment", chosen[0]))
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in _ports(container)

    @pytest.mark.parametrize("where", ALL)
    def test_every_service_is_scraped(self, where: str) -> None:
        objects = render(where)
        monitors = of_kind(objects, "ServiceMonitor")
        for service in of_kind(objects, "Service"):
            labels = service["metadata"]["labels"]
            scraping = [m for m in monitors if selects(m["spec"]["selector"], labels)]
            assert len(scraping) == 1, service["metadata"]["name"]
            ports = {p["name"] for p in service["spec"]["ports"]}
            assert {e["port"] for e in scraping[0]["spec"]["endpoints"]} <= ports
            assert scraping[0]["spec"]["endpoints"][0]["path"] == "/metrics"

    @pytest.mark.parametrize("where", ALL)
    def test_ingress_routes_api_webhooks_docs_and_dashboard_over_tls(self, where: str) -> None:
        objects = render(where)
        (ingress,) = of_kind(objects, "Ingress")
        (rule,) = ingress["spec"]["rules"]
        routes = {p["path"]: p["backend"]["service"] for p in rule["http"]["paths"]}
        gateway = {"name": "relay-gateway", "port": {"name": "http"}}
        assert routes == {"/api": gateway, "/docs": gateway, "/dashboard": gateway,
                          "/webhooks": {"name": "relay-ingest", "port": {"name": "http"}}}
        for backend in routes.values():
            named(objects, "Service", backend["name"])
        assert rule["host"] in ingress["spec"]["tls"][0]["hosts"]


# Pods the operators create, by the labels their docs give: RabbitMQ Cluster Operator pods
# carry app.kubernetes.io/name=<cluster> and component=rabbitmq; MongoDB Community pods carry
# app=<resource>-svc. Other namespaces' pods are matched only with a namespaceSelector.
OPERATOR_PODS = {
    "relay-rabbitmq": {"app.kubernetes.io/name": "relay-rabbitmq",
                       "app.kubernetes.io/component": "rabbitmq"},
    "relay-mongodb": {"app": "relay-mongodb-svc"},
}


def _peer_selectors(policy: Obj) -> list[Obj]:
    rules = [*policy["spec"].get("ingress", []), *policy["spec"].get("egress", [])]
    peers = [peer for rule in rules for peer in [*rule.get("from", []), *rule.get("to", [])]]
    return [p["podSelector"] for p in peers if "podSelector" in p and "namespaceSelector" not in p]


class TestNetworkPolicies:
    """Default deny, then only the design's flows, each naming pods that exist."""

    @pytest.mark.parametrize("where", ALL)
    def test_default_deny_both_ways(self, where: str) -> None:
        deny = named(render(where), "NetworkPolicy", "default-deny")
        assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}

    @pytest.mark.parametrize("where", ALL)
    def test_every_selector_matches_existing_pods(self, where: str) -> None:
        objects = render(where)
        pods = [*dict(pod_labels(objects)).values(), *OPERATOR_PODS.values()]
        for policy in of_kind(objects, "NetworkPolicy"):
            for selector in [policy["spec"]["podSelector"], *_peer_selectors(policy)]:
                assert any(selects(selector, labels) for labels in pods), (
                    f"{policy['metadata']['name']}: {selector} selects nothing")
        for cluster, kind in (("relay-rabbitmq", "RabbitmqCluster"),
                              ("relay-mongodb", "MongoDBCommunity")):
            named(objects, kind, cluster)

    @pytest.mark.parametrize("where", ALL)
    def test_only_the_front_doors_accept_the_ingress_controller(self, where: str) -> None:
        objects = render(where)
        labels = dict(pod_labels(objects))
        exposed = set()
        for policy in of_kind(objects, "NetworkPolicy"):
            for rule in policy["spec"].get("ingress", []):
                sources = [p.get("namespaceSelector", {}).get("matchLabels", {})
                           for p in rule.get("from", [])]
                if {"kubernetes.io/metadata.name": "ingress-nginx"} in sources:
                    exposed |= {n for n, pod in labels.items()
                                if selects(policy["spec"]["podSelector"], pod)}
        assert exposed == {"relay-gateway", "relay-ingest"}

    @pytest.mark.parametrize("where", ALL)
    def test_stats_has_no_way_out_but_the_backends(self, where: str) -> None:
        objects = render(where)
        stats = dict(pod_labels(objects))["relay-stats"]
        ports = set()
        for policy in of_kind(objects, "NetworkPolicy"):
            if selects(policy["spec"]["podSelector"], stats):
                for rule in policy["spec"].get("egress", []):
                    ports |= {p["port"] for p in rule.get("ports", [])}
        amqp = 5671 if where.endswith("-tls") else 5672
        assert ports == {53, amqp, 27017}

    @pytest.mark.parametrize("where", ALL)
    def test_the_selector_check_catches_a_typo(self, where: str) -> None:
        pods = [*dict(pod_labels(render(where))).values(), *OPERATOR_PODS.values()]
        typo = {"matchLabels": {"app.kubernetes.io/component": "gatway"}}
        assert not any(selects(typo, labels) for labels in pods)
