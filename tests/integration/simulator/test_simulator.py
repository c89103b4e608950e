"""The simulator over real HTTP: sends, statuses, failures, inbound, media, counts, auth."""

from __future__ import annotations

import base64
import hashlib
import re
import time

import aiohttp
import pytest

from shared.secrets import signature_valid
from tests.conftest import eventually
from tests.integration.simulator.conftest import SECRET, Sim

pytestmark = pytest.mark.integration
WAMID = re.compile(r"^wamid\.HBg[A-Za-z0-9+/]+=*$")


class TestSend:
    """An accepted send answers Meta's shape with a fresh ``wamid.`` id and is logged."""

    async def test_answers_wamid_and_contacts(self, sim: Sim) -> None:
        response = await sim.send({"to": "+15551234567", "type": "text",
                                   "text": {"body": "hi"}, "biz_opaque_callback_data": "m-1"})
        assert response.status == 200
        body = await response.json()
        assert body["messaging_product"] == "whatsapp"
        assert body["contacts"] == [{"input": "+15551234567", "wa_id": "15551234567"}]
        assert WAMID.match(body["messages"][0]["id"])

    async def test_logs_send_with_receipt_time(self, sim: Sim) -> None:
        before = time.time()
        await sim.send({"to": "15551234567", "type": "text", "text": {"body": "hi"},
                        "biz_opaque_callback_data": "m-2"})
        sends = (await sim.control("GET", "sends"))["sends"]
        assert [(s["messageId"], s["to"], s["type"]) for s in sends] == [
            ("m-2", "15551234567", "text")]
        assert before <= sends[0]["at"] <= time.time()
        assert sends[0]["payload"]["text"] == {"body": "hi"}

    async def test_invalid_payload_is_code_100(self, sim: Sim) -> None:
        response = await sim.send({"to": "15551234567", "type": "text",
                                   "text": {"body": "x" * 4097}})
        assert response.status == 400
        error = (await response.json())["error"]
        assert error["code"] == 100
        assert error["type"] == "OAuthException"
        assert error["error_data"]["messaging_product"] == "whatsapp"
        assert error["fbtrace_id"]

    async def test_mark_as_read_is_recorded(self, sim: Sim) -> None:
        response = await sim.send({"status": "read", "message_id": "wamid.ABC"})
        assert await response.json() == {"success": True}
        reads = (await sim.control("GET", "reads"))["reads"]
        assert [r["wamid"] for r in reads] == ["wamid.ABC"]


class TestStatuses:
    """After a send, sent → delivered → read arrive in order, signed, echoing the callback data."""

    async def test_in_order_and_signed(self, sim: Sim) -> None:
        response = await sim.send({"to": "15551234567", "type": "text", "text": {"body": "hi"},
                                   "biz_opaque_callback_data": "m-3"})
        wamid = (await response.json())["messages"][0]["id"]
        await eventually(lambda: _ready(len(sim.receiver.posts) >= 3), message="3 statuses")
        statuses = sim.receiver.statuses()
        assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
        assert {s["id"] for s in statuses} == {wamid}
        assert {s["biz_opaque_callback_data"] for s in statuses} == {"m-3"}
        assert all(s["recipient_id"] == "15551234567" for s in statuses)
        assert all(s["timestamp"].isdigit() for s in statuses)
        for post in sim.receiver.posts:
            assert signature_valid(SECRET, post.body, post.signature)
            value = post.json()["entry"][0]["changes"][0]["value"]
            assert value["metadata"]["phone_number_id"] == "106540352242922"

    async def test_auto_statuses_off(self, sim: Sim) -> None:
        await sim.control("POST", "config", {"autoStatuses": False})
        quiet = await sim.send({"to": "15551234567", "type": "text", "text": {"body": "a"}})
        await sim.control("POST", "config", {"autoStatuses": True})
        loud = await sim.send({"to": "15551234567", "type": "text", "text": {"body": "b"}})
        quiet_id = (await quiet.json())["messages"][0]["id"]
        loud_id = (await loud.json())["messages"][0]["id"]
        await eventually(lambda: _ready(len(sim.receiver.statuses()) >= 3), message="statuses")
        assert {s["id"] for s in sim.receiver.statuses()} == {loud_id} != {quiet_id}

    async def test_retries_until_ingest_answers_200(self, sim: Sim) -> None:
        sim.receiver.status = 503
        await sim.control("POST", "config", {"statusDelaySeconds": 0})
        await sim.send({"to": "15551234567", "type": "text", "text": {"body": "hi"}})
        await eventually(lambda: _ready(len(sim.receiver.posts) >= 2), message="a retry")
        sim.receiver.status = 200
        await eventually(lambda: _ready([s["status"] for s in sim.receiver.statuses()][-3:]
                                        == ["sent", "delivered", "read"]), message="all three")


class TestFailureInjection:
    """``/_sim/fail`` makes the next matching sends fail or hang, then sends succeed again."""

    async def test_130429_twice_then_success(self, sim: Sim) -> None:
        await sim.control("POST", "fail", {"code": 130429, "times": 2, "httpStatus": 400})
        payload = {"to": "15551234567", "type": "text", "text": {"body": "hi"},
                   "biz_opaque_callback_data": "m-4"}
        for _ in range(2):
            response = await sim.send(payload)
            assert response.status == 400
            assert (await response.json())["error"]["code"] == 130429
        assert (await sim.send(payload)).status == 200
        counts = (await sim.control("GET", "sends/counts"))["counts"]
        assert counts == {"m-4": 1}

    async def test_rule_matches_recipient_only(self, sim: Sim) -> None:
        await sim.control("POST", "fail", {"code": 131026, "to": "+15550000001"})
        other = await sim.send({"to": "15550000002", "type": "text", "text": {"body": "a"}})
        target = await sim.send({"to": "15550000001", "type": "text", "text": {"body": "b"}})
        assert (other.status, target.status) == (200, 400)

    async def test_delay_makes_send_hang(self, sim: Sim) -> None:
        await sim.control("POST", "fail", {"delaySeconds": 1.0})
        timeout = aiohttp.ClientTimeout(total=0.3)
        with pytest.raises(TimeoutError):
            await sim.http.post(
                sim.api("1", "messages"), timeout=timeout,
                json={"messaging_product": "whatsapp", "to": "15551234567", "type": "text",
                      "text": {"body": "slow"}, "biz_opaque_callback_data": "m-5"},
                headers={"Authorization": "Bearer t"})
        counts = await eventually(lambda: _counts(sim), message="the late acceptance")
        assert counts == {"m-5": 1}

    async def test_async_failure_posts_failed_status(self, sim: Sim) -> None:
        await sim.control("POST", "fail", {"code": 131047, "async": True})
        response = await sim.send({"to": "15551234567", "type": "text", "text": {"body": "x"}})
        assert response.status == 200
        await eventually(lambda: _ready(sim.receiver.statuses()), message="failed status")
        (status,) = sim.receiver.statuses()
        assert status["status"] == "failed"
        assert status["errors"][0]["code"] == 131047


class TestAuth:
    """A token starting with ``bad`` is refused with 401 and code 190."""

    async def test_bad_token(self, sim: Sim) -> None:
        response = await sim.send({"to": "15551234567", "type": "text", "text": {"body": "hi"}},
                                  token="bad-token")
        assert response.status == 401
        assert (await response.json())["error"]["code"] == 190
        assert (await sim.control("GET", "sends"))["sends"] == []

    async def test_phone_number_lookup(self, sim: Sim) -> None:
        headers = {"Authorization": "Bearer ok"}
        async with sim.http.get(sim.api("106540352242922"), headers=headers) as response:
            body = await response.json()
        assert body["id"] == "106540352242922"
        assert {"display_phone_number", "verified_name", "quality_rating"} <= body.keys()
        async with sim.http.get(sim.api("1"), headers={"Authorization": "Bearer bad"}) as bad:
            assert bad.status == 401


class TestInbound:
    """``/_sim/inbound`` posts a correctly signed inbound-message webhook."""

    async def test_text(self, sim: Sim) -> None:
        answer = await sim.control("POST", "inbound", {
            "phoneNumberId": "106540352242922", "from": "+16505551234", "name": "Ada",
            "type": "text", "text": "hello"})
        assert answer["ingestStatus"] == 200
        (post,) = sim.receiver.posts
        assert signature_valid(SECRET, post.body, post.signature)
        value = post.json()["entry"][0]["changes"][0]["value"]
        assert value["contacts"] == [{"profile": {"name": "Ada"}, "wa_id": "16505551234"}]
        (message,) = value["messages"]
        assert message["id"] == answer["wamid"]
        assert (message["from"], message["type"], message["text"]) == (
            "16505551234", "text", {"body": "hello"})

    async def test_document_media_resolvable(self, sim: Sim) -> None:
        data = b"%PDF-1.4 test"
        await sim.control("POST", "inbound", {
            "phoneNumberId": "1", "from": "16505551234", "type": "document",
            "mediaBase64": base64.b64encode(data).decode(), "mimeType": "application/pdf",
            "caption": "invoice", "filename": "inv.pdf"})
        message = sim.receiver.posts[0].json()["entry"][0]["changes"][0]["value"]["messages"][0]
        document = message["document"]
        assert (document["caption"], document["filename"]) == ("invoice", "inv.pdf")
        assert document["sha256"] == hashlib.sha256(data).hexdigest()
        assert await _download(sim, document["id"]) == data


class TestMedia:
    """Upload → resolve → download round-trips the bytes; delete forgets them."""

    async def test_round_trip(self, sim: Sim) -> None:
        data = b"\xff\xd8\xff" + b"jpeg" * 100
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", "image/jpeg")
        form.add_field("file", data, filename="a.jpg", content_type="image/jpeg")
        async with sim.http.post(sim.api("1", "media"), data=form,
                                 headers={"Authorization": "Bearer t"}) as response:
            media_id = (await response.json())["id"]
        assert await _download(sim, media_id) == data
        async with sim.http.delete(sim.api(media_id),
                                   headers={"Authorization": "Bearer t"}) as response:
            assert await response.json() == {"success": True}

    async def test_unsupported_type_refused(self, sim: Sim) -> None:
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", "image/gif")
        form.add_field("file", b"GIF89a", filename="a.gif", content_type="image/gif")
        async with sim.http.post(sim.api("1", "media"), data=form,
                                 headers={"Authorization": "Bearer t"}) as response:
            assert response.status == 400
            assert (await response.json())["error"]["code"] == 100


async def _download(sim: Sim, media_id: str) -> bytes:
    headers = {"Authorization": "Bearer t"}
    async with sim.http.get(sim.api(media_id), headers=headers) as response:
        info = await response.json()
    assert info["file_size"] > 0 and info["mime_type"]
    async with sim.http.get(info["url"]) as unauthorised:
        assert unauthorised.status == 401
    async with sim.http.get(info["url"], headers=headers) as response:
        data = await response.read()
    assert hashlib.sha256(data).hexdigest() == info["sha256"]
    return data


async def _ready(value: object) -> object:
    return value


async def _counts(sim: Sim) -> dict[str, int]:
    return dict((await sim.control("GET", "sends/counts"))["counts"])
