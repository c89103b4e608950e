"""One message's whole life: API → RabbitMQ → sender → Cloud API (simulated) → signed webhooks
→ ingest → MongoDB → statistics, with every service a separate OS process."""

from __future__ import annotations

import pytest

from tests.conftest import eventually
from tests.harness import Api, Stack

pytestmark = pytest.mark.e2e


class TestWalkingSkeleton:
    """A text message accepted by the API reaches Read with every timestamp, and is counted."""

    async def test_message_reaches_read_and_is_counted(
        self, stack: Stack, api: Api, tenant: dict[str, str]
    ) -> None:
        stack.start_all()
        status, body = await api.call("POST", "/messages", json={
            "whatsappAccountId": tenant["accountId"], "to": "+15551234567",
            "type": "Text", "content": "Hello from Relay",
        })
        assert status == 202, body
        assert body["success"] is True
        message = body["data"]
        assert message["status"] == "Queued"

        async def read() -> dict | None:
            _, got = await api.call("GET", f"/messages/{message['id']}")
            return got["data"] if got["data"]["status"] == "Read" else None

        final = await eventually(read, timeout=10, message="message Read")
        for field in ("sentAt", "deliveredAt", "readAt"):
            assert final[field], field
        assert final["whatsappMessageId"].startswith("wamid.")
        assert final["sentAt"] <= final["deliveredAt"] <= final["readAt"]

        async def counted() -> dict | None:
            _, got = await api.call("GET", "/messages/statistics")
            data = got["data"]
            return data if data["byStatus"]["Read"] == 1 else None

        stats = await eventually(counted, timeout=10, message="statistics count the Read")
        assert stats["total"] == 1
        assert stats["byDirection"] == {"Inbound": 0, "Outbound": 1}
        assert stats["byType"]["Text"] == 1

    async def test_every_service_answers_health_and_metrics(
        self, stack: Stack, http, settings
    ) -> None:
        stack.start_all()
        for port in (settings.gateway_port, settings.sender_port, settings.ingest_port,
                     settings.stats_port, settings.sim_port):
            for path in ("/health/live", "/health/ready"):
                async with http.get(f"http://127.0.0.1:{port}{path}") as response:
                    assert response.status == 200, (port, path)
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                assert "# TYPE" in await response.text()
