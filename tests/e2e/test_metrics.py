"""Issue 6, acceptance 3: each service's ``/metrics`` has the listed metrics, and they move when
messages flow (sends, a retry, a pacing deferral, webhooks good and forged, the projection)."""

from __future__ import annotations

import uuid

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from relay import admin
from shared import topology
from shared.db import Database
from shared.secrets import TokenCipher
from shared.settings import Settings
from tests.conftest import eventually
from tests.harness import Api, Stack
from tests.stats_support import own_vhost  # noqa: F401 - amqp_url: one vhost of its own

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LISTED = {
    "gateway": ["relay_http_request_duration_seconds_bucket",
                "relay_gateway_messages_accepted_total"],
    "sender": ["relay_sends_total", "relay_send_duration_seconds_bucket",
               "relay_pacing_deferrals_total", "relay_send_retries_total"],
    "ingest": ["relay_webhooks_total", "relay_webhook_events_total",
               "relay_http_request_duration_seconds_bucket"],
    "stats": ["relay_projection_events_total", "relay_projection_lag_seconds",
              "relay_queue_depth", "relay_dead_letters"],
}


def port(settings: Settings, service: str) -> int:
    return {"gateway": settings.gateway_port, "sender": settings.sender_port,
            "ingest": settings.ingest_port, "stats": settings.stats_port}[service]


class Scrape:
    """The samples of one ``/metrics`` answer."""

    def __init__(self, text: str) -> None:
        self.samples = [s for f in text_string_to_metric_families(text) for s in f.samples]

    def names(self) -> set[str]:
        return {s.name for s in self.samples}

    def value(self, name: str, **labels: str) -> float:
        return sum(s.value for s in self.samples if s.name == name
                   and all(s.labels.get(k) == v for k, v in labels.items()))


async def scrape(http: aiohttp.ClientSession, settings: Settings, service: str) -> Scrape:
    async with http.get(f"http://127.0.0.1:{port(settings, service)}/metrics") as response:
        assert response.status == 200
        return Scrape(await response.text())


async def send(api: Api, account_id: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        status, body = await api.call("POST", "/messages", json={
            "whatsappAccountId": account_id, "to": f"+1555123{i:04d}", "type": "Text",
            "content": f"metrics {i}",
        })
        assert status == 202, body
        ids.append(body["data"]["id"])
    return ids


class TestMetricsMove:
    """Listed metric names are exported, and they move with traffic."""

    async def test_scrape_every_service_before_and_after_traffic(
        self, stack: Stack, api: Api, tenant: dict[str, str], db: Database,
        settings: Settings, http: aiohttp.ClientSession,
    ) -> None:
        stack.start_all()
        before = {s: await scrape(http, settings, s) for s in LISTED}
        slow = await admin.create_account(
            db, TokenCipher(settings.secret_key), user_id=tenant["userId"], name="slow",
            phone_number_id=f"9{uuid.uuid4().int % 10**9:09d}",
            display_phone_number="+15550001111", access_token="slow-token", rate_per_minute=1,
            enforce_customer_window=False,
        )
        async with http.post(f"{settings.cloud_api_url}/_sim/fail",
                             json={"code": 130429, "times": 1, "httpStatus": 400}) as response:
            assert response.status == 200
        ids = await send(api, tenant["accountId"], 3)
        await send(api, slow["_id"], 2)  # the second waits for the next minute: a deferral
        async with http.post(f"http://127.0.0.1:{settings.ingest_port}/webhooks/whatsapp",
                             data=b'{"object":"whatsapp_business_account","entry":[]}',
                             headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}) as response:
            assert response.status == 401

        async def all_read() -> bool:
            docs = await db.messages.find({"_id": {"$in": ids}}).to_list(None)
            return len(docs) == 3 and all(d["status"] == "Read" for d in docs)

        await eventually(all_read, timeout=30, message="the three messages Read")

        async def projected() -> Scrape | None:
            got = await scrape(http, settings, "stats")
            applied = got.value("relay_projection_events_total", outcome="applied")
            polled = any(s.name == "relay_queue_depth" and s.labels["queue"] == topology.DEAD_QUEUE
                         for s in got.samples)
            return got if applied >= 3 * 4 and polled else None

        await eventually(projected, timeout=30, message="events projected, depths polled")
        after = {s: await scrape(http, settings, s) for s in LISTED}
        for service, names in LISTED.items():
            missing = set(names) - after[service].names()
            assert not missing, (service, missing)

        def moved(service: str, name: str, **labels: str) -> float:
            return after[service].value(name, **labels) - before[service].value(name, **labels)

        assert moved("gateway", "relay_gateway_messages_accepted_total",
                     type="Text", channel="http") == 5
        assert moved("gateway", "relay_http_request_duration_seconds_count",
                     route="/api/v1/messages", method="POST", status="202") == 5
        assert moved("sender", "relay_sends_total", outcome="sent") >= 4
        assert moved("sender", "relay_sends_total", outcome="retried", error_code="130429") == 1
        assert moved("sender", "relay_send_retries_total") == 1
        assert moved("sender", "relay_send_duration_seconds_count") >= 5
        assert moved("sender", "relay_pacing_deferrals_total") >= 1
        assert moved("ingest", "relay_webhooks_total", outcome="accepted") >= 9
        assert moved("ingest", "relay_webhooks_total", outcome="bad_signature") == 1
        assert moved("ingest", "relay_webhook_events_total", kind="status") >= 9
        assert moved("stats", "relay_projection_events_total", outcome="applied") >= 12
        assert after["stats"].value("relay_projection_lag_seconds") > 0
        assert after["stats"].value("relay_dead_letters") == 0
        queues = {s.labels["queue"] for s in after["stats"].samples
                  if s.name == "relay_queue_depth"}
        assert {"relay.send.0", "relay.events.stats", "relay.dead", "relay.inbox"} <= queues
