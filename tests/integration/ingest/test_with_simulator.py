"""Ingest against the Cloud API simulator in-process: inbound media resolved and downloaded
through the (simulated) Cloud API, and the simulator's own status webhooks applied."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from shared.db import Database
from shared.media import FileMediaStore
from shared.settings import Settings
from simulator.app import create_app as create_sim
from tests import media_samples
from tests.conftest import eventually
from tests.integration.ingest.conftest import Account, Ingest, outbound, until_ready


@pytest.fixture
async def sim(settings: Settings) -> AsyncIterator[str]:
    """The simulator on ``settings.sim_port``, posting webhooks to the test's ingest."""
    runner = web.AppRunner(create_sim(settings, webhook_url=settings.webhook_url), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.sim_port).start()
    yield settings.cloud_api_url
    await runner.cleanup()


@pytest.fixture
async def live(start_ingest: Any, sim: str) -> Ingest:
    ingest: Ingest = await start_ingest(cloud=None)  # the real Cloud API client, to the sim
    await until_ready(ingest)
    return ingest


async def control(base: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.post(base + path, json=body) as r:
        assert r.status == 200, await r.text()
        answer: dict[str, Any] = await r.json()
        return answer


class TestInboundMedia:
    """An image a user sends is fetched with the account's token, judged and stored."""

    async def test_image_is_downloaded_and_stored(
        self, live: Ingest, sim: str, db: Database, accounts: list[Account]
    ) -> None:
        image = media_samples.jpeg()
        answer = await control(sim, "/_sim/inbound", {
            "phoneNumberId": accounts[0].phone_number_id, "from": "+16505551234", "name": "Ada",
            "type": "image", "mediaBase64": base64.b64encode(image).decode(),
            "mimeType": "image/jpeg", "caption": "look",
        })
        assert answer["ingestStatus"] == 200

        async def with_media() -> dict[str, Any] | None:
            return await db.messages.find_one({"whatsappMessageId": answer["wamid"],
                                               "mediaId": {"$type": "string"}})

        doc = await eventually(with_media, timeout=20, message="inbound image stored")
        assert (doc["type"], doc["content"], doc["errorMessage"]) == ("Image", "look", None)
        media = await db.media.find_one({"_id": doc["mediaId"]})
        assert media is not None and media["mimeType"] == "image/jpeg"
        assert doc["mediaUrl"].endswith(f"/api/v1/media/{media['_id']}")
        stored = await FileMediaStore(live.settings.data_dir / "media").get(media["key"])
        assert stored == image
        contact = await db.contacts.find_one({"_id": doc["contactId"]})
        assert contact is not None and contact["name"] == "Ada"

    async def test_a_text_through_the_simulator(
        self, live: Ingest, sim: str, db: Database, accounts: list[Account]
    ) -> None:
        answer = await control(sim, "/_sim/inbound", {
            "phoneNumberId": accounts[1].phone_number_id, "from": "+16505550000",
            "type": "text", "text": "hello relay",
        })
        assert answer["ingestStatus"] == 200
        await live.until_events("message", "applied", 1)
        doc = await db.messages.find_one({"whatsappMessageId": answer["wamid"]})
        assert doc is not None and doc["content"] == "hello relay"
        assert doc["whatsappAccountId"] == accounts[1].id


class TestSimulatorStatuses:
    """The simulator's sent/delivered/read webhooks move an outbound message to Read."""

    async def test_statuses_of_a_send_reach_read(
        self, live: Ingest, sim: str, db: Database, accounts: list[Account], settings: Settings
    ) -> None:
        account = accounts[0]
        url = f"{sim}/{settings.whatsapp_api_version}/{account.phone_number_id}/messages"
        body = {"messaging_product": "whatsapp", "to": "+16505551234", "type": "text",
                "text": {"body": "hi"}, "biz_opaque_callback_data": "msg-sim-1"}
        headers = {"Authorization": f"Bearer {account.token}"}
        async with aiohttp.ClientSession() as session, \
                session.post(url, json=body, headers=headers) as response:
            assert response.status == 200
            wamid = (await response.json())["messages"][0]["id"]
        doc = await outbound(db, account, wamid=wamid)

        async def read() -> dict[str, Any] | None:
            return await db.messages.find_one({"_id": doc["_id"], "status": "Read",
                                               "eventPending": {"$exists": False}})

        final = await eventually(read, timeout=30, message="Read from the simulator's webhooks")
        assert final["readAt"] and final["deliveredAt"] and final["sentAt"]
