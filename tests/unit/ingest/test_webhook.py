"""The webhook endpoint against an in-memory publisher: handshake, signature, size, 503."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ingest.app import create_app
from ingest.webhook import MAX_BODY_BYTES, RECEIVED_AT
from shared import topology
from shared.broker import PublishError
from shared.settings import load_settings
from tests import ingest_payloads as p

SECRET = "unit-app-secret"
TOKEN = "unit-verify-token"
URL = "/webhooks/whatsapp"


@dataclass
class FakePublisher:
    """Records confirmed publishes; can be 'down' or refuse."""

    is_connected: bool = True
    refuse: bool = False
    published: list[tuple[str, str, bytes, dict[str, Any]]] = field(default_factory=list)

    async def publish(self, exchange: str, routing_key: str, body: bytes, *,
                      headers: dict[str, Any] | None = None, timeout: float = 10.0) -> None:
        if self.refuse:
            raise PublishError("nacked")
        self.published.append((exchange, routing_key, body, headers or {}))


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
async def client(publisher: FakePublisher) -> AsyncIterator[TestClient]:
    settings = load_settings(whatsapp_app_secret=SECRET, whatsapp_verify_token=TOKEN,
                             mongodb_url="mongodb://127.0.0.1:1/")
    app = create_app(settings, publisher=publisher, with_worker=False)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def signed_body() -> tuple[bytes, dict[str, str]]:
    return p.signed(p.webhook(p.value("pn-1", messages=[p.text("hi")])), SECRET)


class TestHandshake:
    """GET answers Meta's verification with the raw challenge, or 403."""

    async def test_echoes_the_challenge(self, client: TestClient) -> None:
        query = {"hub.mode": "subscribe", "hub.verify_token": TOKEN, "hub.challenge": "1158201444"}
        response = await client.get(URL, params=query)
        assert response.status == 200
        assert response.content_type == "text/plain"
        assert await response.text() == "1158201444"

    @pytest.mark.parametrize("query", [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": TOKEN, "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ])
    async def test_refuses_a_wrong_token_or_mode(self, client: TestClient, query: dict) -> None:
        response = await client.get(URL, params=query)
        assert response.status == 403
        assert "verify token" in (await response.json())["message"]


class TestSignedPost:
    """A correctly signed JSON body is published raw, with a confirm, before the 200."""

    async def test_publishes_the_exact_bytes_to_the_inbox(
        self, client: TestClient, publisher: FakePublisher
    ) -> None:
        raw, headers = signed_body()
        response = await client.post(URL, data=raw, headers=headers)
        assert response.status == 200
        [(exchange, key, body, sent_headers)] = publisher.published
        assert (exchange, key, body) == (topology.REDELIVER, topology.INBOX_KEY, raw)
        assert float(sent_headers[RECEIVED_AT]) > 0

    async def test_broker_down_answers_503(
        self, client: TestClient, publisher: FakePublisher
    ) -> None:
        publisher.is_connected = False
        raw, headers = signed_body()
        response = await client.post(URL, data=raw, headers=headers)
        assert response.status == 503
        assert publisher.published == []

    async def test_unconfirmed_publish_answers_503(
        self, client: TestClient, publisher: FakePublisher
    ) -> None:
        publisher.refuse = True
        raw, headers = signed_body()
        response = await client.post(URL, data=raw, headers=headers)
        assert response.status == 503
        assert (await response.json())["code"] == "SERVICE_UNAVAILABLE"

    async def test_signed_non_json_is_refused_with_400(
        self, client: TestClient, publisher: FakePublisher
    ) -> None:
        raw, headers = p.signed(b"this is not json", SECRET)
        response = await client.post(URL, data=raw, headers=headers)
        assert response.status == 400
        assert publisher.published == []


class TestForgery:
    """Missing or wrong signatures and oversized bodies are refused; nothing is published."""

    async def test_wrong_secret(self, client: TestClient, publisher: FakePublisher) -> None:
        raw, headers = p.signed(p.webhook(p.value("pn-1", messages=[p.text()])), "not-it")
        response = await client.post(URL, data=raw, headers=headers)
        assert response.status == 401
        assert publisher.published == []

    async def test_missing_header(self, client: TestClient, publisher: FakePublisher) -> None:
        raw, _ = signed_body()
        response = await client.post(URL, data=raw, headers={"Content-Type": "application/json"})
        assert response.status == 401
        assert "X-Hub-Signature-256" in (await response.json())["message"]
        assert publisher.published == []

    async def test_body_altered_after_signing(
        self, client: TestClient, publisher: FakePublisher
    ) -> None:
        raw, headers = signed_body()
        response = await client.post(URL, data=raw.replace(b"hi", b"ho"), headers=headers)
        assert response.status == 401
        assert publisher.published == []

    async def test_reserialised_json_does_not_verify(
        self, client: TestClient, publisher: FakePublisher
    ) -> None:
        raw, headers = signed_body()
        compact = json.dumps(json.loads(raw), separators=(",", ":")).encode()
        response = await client.post(URL, data=compact, headers=headers)
        assert response.status == 401

    async def test_oversized_body_is_413(
        self, client: TestClient, publisher: FakePublisher
    ) -> None:
        big = {"entry": [], "pad": "x" * MAX_BODY_BYTES}
        raw, headers = p.signed(big, SECRET)
        response = await client.post(URL, data=raw, headers=headers)
        assert response.status == 413
        assert (await response.json())["code"] == "PAYLOAD_TOO_LARGE"
        assert publisher.published == []

    async def test_oversized_chunked_body_is_413(
        self, client: TestClient, publisher: FakePublisher
    ) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b"x" * 65536

        response = await client.post(URL, data=chunks(),
                                     headers={"X-Hub-Signature-256": "sha256=00"})
        assert response.status == 413
        assert publisher.published == []


class TestMetrics:
    """Outcomes are counted in relay_webhooks_total."""

    async def test_counts_outcomes(self, client: TestClient) -> None:
        raw, headers = signed_body()
        await client.post(URL, data=raw, headers=headers)
        await client.post(URL, data=raw, headers={})
        text = await (await client.get("/metrics")).text()
        assert 'relay_webhooks_total{outcome="accepted"} 1.0' in text
        assert 'relay_webhooks_total{outcome="bad_signature"} 1.0' in text

    async def test_health(self, client: TestClient, publisher: FakePublisher) -> None:
        assert (await client.get("/health/live")).status == 200
        assert (await client.get("/health/ready")).status == 200
        publisher.is_connected = False
        assert (await client.get("/health/ready")).status == 503
