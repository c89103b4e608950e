"""A template's review across processes: the gateway creates it at the simulator (PENDING), the
simulator's signed ``message_template_status_update`` webhook goes through ingest's inbox, and
the gateway lists it APPROVED."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from shared.settings import Settings
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


class TestWindowAcrossProcesses:
    """Every service its own process and the simulator enforcing like Meta: a closed window
    refuses Text and takes a Template, which ends Read with its components as sent; the
    customer writing (through the simulator and ingest) reopens the window for Text."""

    async def test_closed_window_template_read_then_reopened_by_the_customer(
        self, stack: Stack, api: Api, tenant: dict[str, str], settings: Settings,
        http: aiohttp.ClientSession,
    ) -> None:
        stack.start_all()
        sim = f"http://127.0.0.1:{settings.sim_port}"
        waba = "102290129340777"
        async with http.post(f"{sim}/_sim/config", json={
                "enforceWindow": True, "enforceTemplates": True}) as response:
            assert response.status == 200
        async with http.post(f"{sim}/_sim/templates", json={"wabaId": waba, "templates": [{
                "name": "order_update", "language": "en_US",
                "components": [{"type": "BODY", "text": "Hi {{1}}, order {{2}} shipped."}]}]},
                ) as response:
            assert response.status == 200
        account = tenant["accountId"]
        status, body = await api.call("PATCH", f"/whatsapp-accounts/{account}", json={
            "wabaId": waba, "enforceCustomerWindow": True})
        assert status == 200, body
        to = "+4915100000077"
        text = {"whatsappAccountId": account, "to": to, "type": "Text", "content": "Hello?"}

        status, body = await api.call("POST", "/messages", json=text)
        assert (status, body["code"]) == (400, "OUTSIDE_CUSTOMER_WINDOW"), body

        components = [{"type": "body", "parameters": [
            {"type": "text", "text": "Ada"}, {"type": "text", "text": "A-17"}]}]
        status, body = await api.call("POST", "/messages", json={
            "whatsappAccountId": account, "to": to, "type": "Template",
            "template": {"name": "order_update", "language": "en_US",
                         "components": components}})
        assert status == 202, body  # unknown to Relay until then: synced on demand
        assert body["data"]["content"] == "Hi Ada, order A-17 shipped."
        template_id = body["data"]["id"]
        final = await eventually(lambda: self._status(api, template_id, "Read"), timeout=20,
                                 message="template message Read")
        async with http.get(f"{sim}/_sim/sends") as response:
            sends = (await response.json())["sends"]
        [sent] = [s for s in sends if s["wamid"] == final["whatsappMessageId"]]
        assert sent["payload"]["template"] == {"name": "order_update",
                                            "language": {"code": "en_US"},
                                            "components": components}

        async with http.post(f"{sim}/_sim/inbound", json={
                "phoneNumberId": "1065403522", "from": to, "text": "Where is it?"}) as response:
            assert response.status == 200, await response.text()

        async def accepted() -> dict[str, Any] | None:
            code, answer = await api.call("POST", "/messages", json=text)
            if code == 400 and answer["code"] == "OUTSIDE_CUSTOMER_WINDOW":
                return None
            assert code == 202, answer
            return dict(answer["data"])

        reply = await eventually(accepted, timeout=20, message="the window reopened")
        await eventually(lambda: self._status(api, reply["id"], "Read"), timeout=20,
                         message="text inside the window Read")

    @staticmethod
    async def _status(api: Api, message_id: str, wanted: str) -> dict[str, Any] | None:
        _, got = await api.call("GET", f"/messages/{message_id}")
        data: dict[str, Any] = got["data"]
        assert data["status"] != "Failed", data
        return data if data["status"] == wanted else None
