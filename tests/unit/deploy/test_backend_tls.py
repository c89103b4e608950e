"""overlays/prod-tls (components/backend-tls): Relay speaks AMQPS to RabbitMQ and TLS to
MongoDB, with the CA certificates mounted where its connection URLs say, and the clients Relay
uses read those URLs as TLS with that CA."""

from __future__ import annotations

from urllib.parse import urlencode

import aiormq
import pytest
from pymongo.uri_parser import parse_uri

from tests.unit.deploy.manifests import Obj, containers, named, of_kind, render

pytestmark = pytest.mark.unit

TLS = "overlays/prod-tls"
# What the MongoDB operator writes into connectionString.standard with TLS enabled
# (MongoAuthUserURI: `?replicaSet=<name>&ssl=<tls.enabled>` then the extra options).
OPERATOR_URI = ("mongodb://relay:pw@relay-mongodb-0.relay-mongodb-svc.relay.svc.cluster.local:27017"
                "/admin?replicaSet=relay-mongodb&ssl=true&")


def _env(deployment: Obj) -> dict[str, str]:
    (container,) = containers(deployment)
    return {e["name"]: e.get("value", "") for e in container["env"]}


def _mounted_ca(deployment: Obj, secret: str) -> str:
    """The path of ``ca.crt`` of ``secret`` inside the container."""
    spec = deployment["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == secret]
    assert volume["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
    (container,) = containers(deployment)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    return f"{mount['mountPath']}/ca.crt"


class TestRabbitmqTls:
    def test_the_cluster_serves_tls_with_the_secret(self) -> None:
        cluster = named(render(TLS), "RabbitmqCluster", "relay-rabbitmq")
        assert cluster["spec"]["tls"] == {"secretName": "relay-rabbitmq-tls"}

    @pytest.mark.parametrize("name", ["relay-gateway", "relay-ingest", "relay-sender",
                                      "relay-stats"])
    def test_relay_connects_with_amqps_and_the_mounted_ca(self, name: str) -> None:
        deployment = named(render(TLS), "Deployment", name)
        url = _env(deployment)["RELAY_AMQP_URL"]
        connection = aiormq.Connection(url.replace("$(RABBITMQ_USERNAME)", "u")
                                       .replace("$(RABBITMQ_PASSWORD)", "p"))
        assert connection.url.scheme == "amqps" and connection.url.port == 5671
        assert connection.vhost == "/"
        assert connection.ssl_certs.cafile == _mounted_ca(deployment, "relay-rabbitmq-tls")
        assert connection.ssl_certs.verify is True

    def test_relay_may_reach_rabbitmq_on_amqps_only(self) -> None:
        objects = render(TLS)
        egress = named(objects, "NetworkPolicy", "relay-to-backends")["spec"]["egress"]
        ingress = named(objects, "NetworkPolicy", "rabbitmq")["spec"]["ingress"]
        for rule in (egress[0], ingress[0]):
            assert [p["port"] for p in rule["ports"]] == [5671]

    def test_plain_overlays_keep_amqp(self) -> None:
        for deployment in of_kind(render("overlays/prod"), "Deployment"):
            assert _env(deployment)["RELAY_AMQP_URL"].startswith("amqp://")


class TestMongodbTls:
    def test_the_replica_set_requires_tls_with_the_secret(self) -> None:
        spec = named(render(TLS), "MongoDBCommunity", "relay-mongodb")["spec"]
        assert spec["security"]["tls"] == {
            "enabled": True, "certificateKeySecretRef": {"name": "relay-mongodb-tls"},
            "caCertificateSecretRef": {"name": "relay-mongodb-tls"}}

    @pytest.mark.parametrize("name", ["relay-gateway", "relay-sender"])
    def test_the_operators_connection_string_is_tls_with_the_mounted_ca(self, name: str) -> None:
        objects = render(TLS)
        extra = named(objects, "MongoDBCommunity", "relay-mongodb")["spec"][
            "additionalConnectionStringConfig"]
        # validate=False: the CA file exists only in the pod (pymongo would open it).
        options = parse_uri(OPERATOR_URI + urlencode(extra), validate=False)["options"]
        assert options["tls"] == "true"
        ca = _mounted_ca(named(objects, "Deployment", name), "relay-mongodb-tls")
        assert options["tlsCAFile"] == ca
