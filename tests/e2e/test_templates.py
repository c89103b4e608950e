"""A template's review across processes: the gateway creates it at the simulator (PENDING), the
simulator's signed ``message_template_status_update`` webhook goes through ingest's inbox, and
the gateway lists it APPROVED."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import eventually
from tests.harness import Api, Stack

pytestmark = pytest.mark.e2e


class TestTemplateReview:
    """Create → PENDING → APPROVED, with every service its own process."""

    async def test_created_template_is_approved_through_ingest(
        self, stack: Stack, api: Api, tenant: dict[str, str]
    ) -> None:
        for name in ("sim", "gateway", "ingest"):
            await asyncio.to_thread(stack.start, name)
        account = f"/whatsapp-accounts/{tenant['accountId']}"
        status, body = await api.call("PATCH", account, json={"wabaId": "102290129340398"})
        assert status == 200, body
        status, body = await api.call("POST", f"{account}/templates", json={
            "name": "order_update", "language": "en_US", "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Hi {{1}}, order {{2}} shipped."}]})
        assert status == 201 and body["data"]["status"] == "PENDING", body

        async def approved() -> bool:
            _, listed = await api.call("GET", f"{account}/templates")
            return [t["status"] for t in listed["data"]["templates"]] == ["APPROVED"]

        await eventually(approved, timeout=20, message="template APPROVED")
