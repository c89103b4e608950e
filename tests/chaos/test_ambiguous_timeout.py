"""The one fault the main suite keeps below the client timeout: a Cloud API that answers only
after the sender gave up. Meta accepted the message; the sender does not know it."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from relay import admin
from shared.db import Database
from shared.secrets import TokenCipher
from shared.settings import Settings
from tests.conftest import eventually
from tests.harness import Stack

pytestmark = [pytest.mark.chaos, pytest.mark.e2e]


class TestSendTimeout:
    """A send that times out on the client side but was accepted by the Cloud API must not be
    sent a second time (invariant 2). The sender retries a timeout no sooner than
    ``send_in_doubt_seconds``; meanwhile the ``sent`` status webhook, matched by the message id
    it echoes, records the send, and the retry finds the message past Queued."""

    async def test_timed_out_send_is_not_sent_twice(
        self, chaos_stack: Stack, chaos_db: Database, chaos_settings: Settings,
        http: aiohttp.ClientSession,
    ) -> None:
        settings = chaos_settings
        user = await admin.create_user(chaos_db, "timeout")
        account = await admin.create_account(
            chaos_db, TokenCipher(settings.secret_key), user_id=user["userId"], name="t",
            phone_number_id="1900000009", display_phone_number="+15550000009",
            access_token="timeout-token", rate_per_minute=600,
            enforce_customer_window=False)
        for name in ("sim", "gateway", "sender", "ingest"):
            await asyncio.to_thread(chaos_stack.start, name)
        sim = f"http://127.0.0.1:{settings.sim_port}"
        hang = settings.send_timeout_seconds + 2
        async with http.post(f"{sim}/_sim/fail", json={"delaySeconds": hang, "times": 1}) as r:
            assert r.status == 200
        async with http.post(settings.gateway_url + "/api/v1/messages", json={
                "whatsappAccountId": account["_id"], "to": "+15551234567", "type": "Text",
                "content": "once"}, headers={"Authorization": f"Bearer {user['apiKey']}"}) as r:
            assert r.status == 202
            message_id = (await r.json())["data"]["id"]

        async def settled() -> dict | None:
            doc = await chaos_db.messages.find_one({"_id": message_id})
            return doc if doc and doc["status"] not in ("Queued",) else None

        await eventually(settled, timeout=hang + 30, message="message settled")

        async def counted() -> int:
            async with http.get(f"{sim}/_sim/sends/counts") as response:
                return int((await response.json())["counts"].get(message_id, 0))

        await eventually(counted, timeout=hang + 5, message="the hung send accepted")
        doc = await settled()
        assert doc["status"] != "Failed" and doc["whatsappMessageId"]
        # The retry was due send_in_doubt_seconds after the timeout: wait until it has run
        # (its attempt would be counted) before counting the sends.
        retry_due = settings.send_in_doubt_seconds + settings.retry_base_seconds
        await asyncio.sleep(retry_due)  # an absence can only be observed over time
        assert await counted() == 1
        assert (await chaos_db.messages.find_one({"_id": message_id}))["attempts"] == 1
