"""WhatsApp accounts: registration checks the token with the Cloud API (the simulator)."""

from __future__ import annotations

import uuid

import pytest

from shared.db import Database
from shared.secrets import TokenCipher
from tests.integration.gateway.conftest import Client

pytestmark = pytest.mark.integration


def new_account(**fields: object) -> dict:
    return {"name": "Support line", "phoneNumberId": uuid.uuid4().hex[:15],
            "displayPhoneNumber": "+15551230000", "accessToken": "EAAG-good", **fields}


class TestRegister:
    """201 with Connected for a working token, Disconnected (with the reason) for a bad one."""

    async def test_connected(self, api: Client, db: Database, settings) -> None:
        status, body = await api.call("POST", "/whatsapp-accounts", json=new_account())
        assert status == 201, body
        data = body["data"]
        assert data["status"] == "Connected"
        assert data["dailyLimit"] == 1000 and data["ratePerMinute"] == 20
        assert "accessToken" not in data
        stored = await db.accounts.find_one({"_id": data["id"]})
        assert stored["accessToken"] != "EAAG-good"
        assert TokenCipher(settings.secret_key).decrypt(stored["accessToken"]) == "EAAG-good"

    async def test_refused_token_is_disconnected_with_reason(self, api: Client) -> None:
        status, body = await api.call("POST", "/whatsapp-accounts",
                                      json=new_account(accessToken="bad-token"))
        assert status == 201
        assert body["data"]["status"] == "Disconnected"
        assert "190" in body["data"]["lastError"]

    async def test_duplicate_phone_number_id_is_409(self, api: Client, api_b: Client) -> None:
        body = new_account()
        assert (await api.call("POST", "/whatsapp-accounts", json=body))[0] == 201
        status, answer = await api_b.call("POST", "/whatsapp-accounts", json=body)
        assert status == 409 and answer["code"] == "CONFLICT"

    @pytest.mark.parametrize("fields", [
        {"name": ""}, {"phoneNumberId": "../../me"}, {"displayPhoneNumber": "call me"},
        {"accessToken": ""}, {"dailyLimit": -1}, {"ratePerMinute": 0}, {"extra": 1},
        {"dailyLimit": "many"},
    ])
    async def test_validation(self, api: Client, fields: dict) -> None:
        status, body = await api.call("POST", "/whatsapp-accounts", json=new_account(**fields))
        assert status == 400 and body["code"] == "VALIDATION_ERROR"
        assert body["details"][0]["field"] == next(iter(fields))

    async def test_cloud_api_down_stores_disconnected(self, api: Client, sim) -> None:
        await sim.server.close()
        status, body = await api.call("POST", "/whatsapp-accounts", json=new_account())
        assert status == 201
        assert body["data"]["status"] == "Disconnected"
        assert "unavailable" in body["data"]["lastError"]


class TestReadAndUpdate:
    """List and get without the token; PATCH changes limits and re-checks a new token."""

    async def test_list_and_get(self, api: Client) -> None:
        _, created = await api.call("POST", "/whatsapp-accounts", json=new_account())
        status, body = await api.call("GET", "/whatsapp-accounts?limit=1")
        assert status == 200
        assert body["data"]["total"] == 2 and body["data"]["totalPages"] == 2
        assert body["data"]["accounts"][0]["id"] == created["data"]["id"]
        assert all("accessToken" not in a for a in body["data"]["accounts"])
        status, one = await api.call("GET", f"/whatsapp-accounts/{created['data']['id']}")
        assert status == 200 and one["data"]["name"] == "Support line"

    async def test_patch_limits(self, api: Client) -> None:
        status, body = await api.call("PATCH", f"/whatsapp-accounts/{api.tenant.account_id}",
                                      json={"dailyLimit": 5, "name": "Renamed"})
        assert status == 200, body
        assert body["data"]["dailyLimit"] == 5 and body["data"]["name"] == "Renamed"

    async def test_patch_with_bad_token_disconnects_and_blocks_sending(self,
                                                                       api: Client) -> None:
        status, body = await api.call("PATCH", f"/whatsapp-accounts/{api.tenant.account_id}",
                                      json={"accessToken": "bad-expired"})
        assert status == 200 and body["data"]["status"] == "Disconnected"
        status, body = await api.send()
        assert status == 400 and body["code"] == "WHATSAPP_ACCOUNT_NOT_CONNECTED"

    @pytest.mark.parametrize("body", [{}, {"phoneNumberId": "x"}, {"status": "Connected"},
                                      {"dailyLimit": -5}])
    async def test_patch_validation(self, api: Client, body: dict) -> None:
        status, answer = await api.call("PATCH", f"/whatsapp-accounts/{api.tenant.account_id}",
                                        json=body)
        assert status == 400 and answer["code"] == "VALIDATION_ERROR"

    async def test_unknown_is_404(self, api: Client) -> None:
        assert (await api.call("GET", "/whatsapp-accounts/nope"))[0] == 404
        assert (await api.call("PATCH", "/whatsapp-accounts/nope", json={"name": "x"}))[0] == 404
