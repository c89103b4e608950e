"""Issue 15, the inbound side: every kind of message a user sends is stored typed (none dropped),
counted by type in the statistics, and opens the contact's 24-hour customer service window —
signed webhooks into the real ingest, with every service its own OS process."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from shared.settings import Settings
from tests import ingest_payloads as p
from tests import media_samples
from tests.conftest import eventually
from tests.harness import Api, Stack

pytestmark = pytest.mark.e2e

SENDER = "4915112345678"
DAY = timedelta(hours=24)


class TestInboundKinds:
    async def test_every_kind_is_stored_counted_and_opens_the_window(
        self, stack: Stack, api: Api, tenant: dict[str, str], settings: Settings,
        http: aiohttp.ClientSession,
    ) -> None:
        stack.start_all()
        pnid = "1065403522"
        wrote = int(time.time()) - 3600
        hello = p.text("hello", sender=SENDER, ts=wrote)
        await self._post(http, settings, [hello])
        first = await self._message(api, hello["id"])
        contact = await self._contact(api, first["contactId"], wrote)
        assert self._instant(contact["windowExpiresAt"]) == self._at(wrote) + DAY

        # A message Relay sent, for the customer to react to.
        status, body = await api.call("POST", "/messages", json={
            "whatsappAccountId": tenant["accountId"], "to": "+" + SENDER, "type": "Text",
            "content": "Your order shipped"})
        assert status == 202, body

        async def sent() -> dict[str, Any] | None:
            _, got = await api.call("GET", f"/messages/{body['data']['id']}")
            return got["data"] if got["data"].get("whatsappMessageId") else None

        outbound = await eventually(sent, timeout=20, message="the outbound text sent")

        sticker = await self._sim(http, settings, {  # another user, timed by the simulator
            "phoneNumberId": pnid, "from": "+4915100000002", "type": "sticker",
            "mediaBase64": base64.b64encode(media_samples.webp()).decode(),
            "mimeType": "image/webp"})
        raws = [p.button_reply(sender=SENDER, ts=wrote + 10),
                p.list_reply(sender=SENDER, ts=wrote + 20),
                p.quick_reply(sender=SENDER, ts=wrote + 30),
                p.location(sender=SENDER, ts=wrote + 40),
                p.reaction(outbound["whatsappMessageId"], "👍", sender=SENDER, ts=wrote + 50),
                p.unknown_kind(sender=SENDER, ts=wrote + 60)]
        await self._post(http, settings, raws)
        button, listed, quick, place, reaction, unknown = [
            await self._message(api, raw["id"]) for raw in raws]
        assert (button["type"], button["content"]) == ("Interactive", "Yes")
        assert (listed["type"], listed["content"]) == ("Interactive", "Tomorrow")
        assert (quick["type"], quick["content"]) == ("Interactive", "Confirm")
        assert (place["type"], place["content"]) == ("Location", "Office, Alexanderplatz 1, Berlin")
        assert (reaction["type"], reaction["content"]) == ("Reaction", "👍")
        assert unknown["type"] == "Unsupported"
        sticker_doc = await self._message(api, sticker)
        assert sticker_doc["type"] == "Unsupported" and sticker_doc["mediaUrl"]
        for got, part, expected in (
            (button, "interactive", {"type": "button_reply", "id": "yes", "title": "Yes"}),
            (quick, "interactive", {"type": "button", "text": "Confirm", "payload": "CONFIRM"}),
            (place, "location", {"latitude": 52.52, "longitude": 13.405, "name": "Office",
                                 "address": "Alexanderplatz 1, Berlin"}),
            (reaction, "reaction", {"messageId": outbound["id"], "emoji": "👍",
                                    "whatsappMessageId": outbound["whatsappMessageId"]}),
            (unknown, "raw", raws[-1]),
        ):
            assert got[part] == expected, part
        assert listed["interactive"] == {"type": "list_reply", "id": "row-2",
                                         "title": "Tomorrow", "description": "9-12"}
        assert sticker_doc["raw"]["type"] == "sticker" and unknown["content"]
        assert button["raw"] is None and place["raw"] is None

        async def counted() -> dict[str, Any] | None:
            _, got = await api.call("GET", "/messages/statistics")
            data: dict[str, Any] = got["data"]
            return data if data["total"] == 9 else None

        stats = await eventually(counted, timeout=20, message="statistics count all nine")
        assert stats["byType"] == {
            "Text": 2, "Image": 0, "Video": 0, "Audio": 0, "Document": 0, "Template": 0,
            "Interactive": 3, "Location": 1, "Reaction": 1, "Unsupported": 2}
        assert stats["byDirection"] == {"Inbound": 8, "Outbound": 1}

        # The window follows the newest message the user wrote, never an older one replayed late.
        contact = await self._contact(api, first["contactId"], wrote + 60)
        assert self._instant(contact["windowExpiresAt"]) == self._at(wrote + 60) + DAY
        late = p.text("sent earlier, delivered late", sender=SENDER, ts=wrote - 600)
        await self._post(http, settings, [late])
        await self._message(api, late["id"])
        _, again = await api.call("GET", f"/contacts/{first['contactId']}")
        assert self._instant(again["data"]["lastInboundAt"]) == self._at(wrote + 60)
        assert self._instant(again["data"]["windowExpiresAt"]) == self._at(wrote + 60) + DAY

    async def _post(self, http: aiohttp.ClientSession, settings: Settings,
                    messages: list[dict[str, Any]]) -> None:
        payload = p.webhook(p.value("1065403522", contacts=[p.contact(SENDER, "Grace")],
                                    messages=messages))
        raw, headers = p.signed(payload, settings.whatsapp_app_secret)
        url = f"http://127.0.0.1:{settings.ingest_port}/webhooks/whatsapp"
        async with http.post(url, data=raw, headers=headers) as response:
            assert response.status == 200

    async def _sim(self, http: aiohttp.ClientSession, settings: Settings,
                   body: dict[str, Any]) -> str:
        async with http.post(f"http://127.0.0.1:{settings.sim_port}/_sim/inbound",
                             json=body) as response:
            answer = await response.json()
            assert response.status == 200 and answer["ingestStatus"] == 200, answer
            return str(answer["wamid"])

    async def _message(self, api: Api, wamid: str) -> dict[str, Any]:
        async def found() -> dict[str, Any] | None:
            _, got = await api.call("GET", "/messages?direction=Inbound&limit=100")
            hits = [m for m in got["data"]["messages"] if m["whatsappMessageId"] == wamid]
            return hits[0] if hits else None

        message: dict[str, Any] = await eventually(found, timeout=20, message=f"{wamid} stored")
        return message

    async def _contact(self, api: Api, contact_id: str, wrote: int) -> dict[str, Any]:
        async def written() -> dict[str, Any] | None:
            _, got = await api.call("GET", f"/contacts/{contact_id}")
            data: dict[str, Any] = got["data"]
            last = data.get("lastInboundAt")
            return data if last and self._instant(last) == self._at(wrote) else None

        contact: dict[str, Any] = await eventually(written, timeout=20,
                                                   message="the window on the contact")
        return contact

    @staticmethod
    def _instant(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    @staticmethod
    def _at(seconds: int) -> datetime:
        return datetime.fromtimestamp(seconds, UTC)
