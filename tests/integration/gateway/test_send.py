"""POST /messages: what is accepted, what is stored and published, and every refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared import topology
from shared.broker import Broker
from shared.db import Database
from shared.models import AccountStatus
from tests.conftest import eventually
from tests.integration.gateway.conftest import Client, make_tenant

pytestmark = pytest.mark.integration


class TestAccepted:
    """A valid send answers 202 with the queued message and publishes its send command."""

    async def test_text_is_queued_stored_and_published(self, api: Client, db: Database,
                                                       broker: Broker, settings) -> None:
        status, body = await api.send(content="Hello, World!")
        assert status == 202, body
        assert body["success"] is True
        assert body["message"] == "Message queued for sending"
        data = body["data"]
        assert data["status"] == "Queued"
        assert data["to"] == "+15551234567"
        assert data["attempts"] == 0
        assert data["content"] == "Hello, World!"
        assert data["createdAt"].endswith("Z")
        for internal in ("version", "eventPending", "dispatched", "claimedBy", "_id"):
            assert internal not in data
        stored = await db.messages.find_one({"_id": data["id"]})
        assert stored["status"] == "Queued" and stored["version"] == 1
        assert stored["direction"] == "Outbound"
        shard = topology.shard_of(api.tenant.account_id, settings.send_shards)
        await eventually(lambda: broker.queue_depth(topology.shard_queue(shard)),
                         message="send command on the account's shard")
        await eventually(lambda: db.events.find_one({"_id": f"{data['id']}:1"}),
                         message="message.queued event logged")
        await eventually(lambda: db.messages.find_one({"_id": data["id"], "dispatched": True}),
                         message="dispatched flag")

    async def test_beyond_the_next_minute_commands_wait_in_the_delay_queues(
        self, http, db: Database, broker: Broker, settings
    ) -> None:
        """25 messages to an account at 20/min: 20 commands on the shard, 5 planned a minute
        out in the delay queues (a backlog never stands in front of other accounts)."""
        tenant = await make_tenant(db, settings, rate_per_minute=20)
        api = Client(http, tenant)
        for _ in range(25):
            status, _ = await api.send(content="burst")
            assert status == 202
        shard = topology.shard_queue(topology.shard_of(tenant.account_id, settings.send_shards))

        async def split_as_planned() -> bool:
            delayed = [await broker.queue_depth(topology.wait_queue(level))
                       for level in range(topology.WAIT_LEVELS)]
            return (await broker.queue_depth(shard), sum(d or 0 for d in delayed)) == (20, 5)
        await eventually(split_as_planned, message="20 on the shard, 5 delayed")

    async def test_contact_is_created_once_and_counts_messages(self, api: Client,
                                                               db: Database) -> None:
        _, first = await api.send()
        _, second = await api.send()
        assert first["data"]["contactId"] == second["data"]["contactId"]
        contact = await db.contacts.find_one({"_id": first["data"]["contactId"]})
        assert contact["totalMessages"] == 2
        assert contact["phone"] == "+15551234567"
        assert contact["lastMessageAt"] is not None

    async def test_media_by_uploaded_id(self, api: Client, db: Database) -> None:
        await db.media.insert_one({"_id": "med-1", "userId": api.tenant.user_id,
                                   "mimeType": "image/png", "size": 10, "key": "messages/a.png"})
        status, body = await api.send(type="Image", content="caption", mediaId="med-1")
        assert status == 202, body
        assert body["data"]["mediaId"] == "med-1"

    async def test_future_schedule_is_accepted(self, api: Client) -> None:
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        status, body = await api.send(scheduledFor=later)
        assert status == 202, body
        assert body["data"]["scheduledFor"] is not None


class TestRefused:
    """Bad input gets a 400 naming the problem, and nothing is stored."""

    @pytest.mark.parametrize(("fields", "needle"), [
        ({"to": "15551234567"}, "Phone number must be in E.164 format"),
        ({"to": "+0123456789"}, "Phone number must be in E.164 format"),
        ({"type": "Sticker"}, "type"),
        ({"content": None}, "content is required"),
        ({"content": "   "}, "content is required"),
        ({"content": "x" * 4097}, "4096"),
        ({"type": "Image", "content": None}, "exactly one of mediaUrl or mediaId"),
        ({"type": "Image", "mediaUrl": "http://x.test/a.png"}, "https"),
        ({"type": "Image", "mediaUrl": "https://x.test/a", "mediaId": "m"}, "exactly one"),
        ({"type": "Image", "mediaUrl": "https://x.test/a", "content": "c" * 1025}, "1024"),
        ({"scheduledFor": "2020-01-01T00:00:00Z"}, "future"),
        ({"scheduledFor": "2999-01-01T00:00:00"}, "timezone"),
        ({"unknownField": 1}, "unknownField"),
        ({"whatsappAccountId": None}, "whatsappAccountId"),
    ])
    async def test_validation(self, api: Client, db: Database, fields: dict, needle: str) -> None:
        status, body = await api.send(**fields)
        assert status == 400, body
        assert body["success"] is False and body["code"] == "VALIDATION_ERROR"
        text = body["message"] + " ".join(str(d) for d in body["details"])
        assert needle in text
        assert await db.messages.count_documents({}) == 0

    async def test_invalid_phone_message_is_the_seeds(self, api: Client) -> None:
        _, body = await api.send(to="12345")
        assert body["message"] == "Phone number must be in E.164 format"

    @pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'{"a": '])
    async def test_body_that_is_not_a_json_object(self, api: Client, raw: bytes) -> None:
        status, body = await api.call("POST", "/messages", data=raw,
                                      headers={"Content-Type": "application/json"})
        assert status == 400 and body["code"] == "VALIDATION_ERROR"

    async def test_unknown_media_id(self, api: Client) -> None:
        status, body = await api.send(type="Image", mediaId="nope")
        assert status == 400 and "mediaId" in body["message"]

    async def test_media_id_of_another_kind(self, api: Client, db: Database) -> None:
        await db.media.insert_one({"_id": "pdf-1", "userId": api.tenant.user_id,
                                   "mimeType": "application/pdf", "size": 1})
        status, _ = await api.send(type="Image", mediaId="pdf-1")
        assert status == 400

    async def test_unknown_account_is_404(self, api: Client) -> None:
        status, body = await api.send(whatsappAccountId="no-such-account")
        assert status == 404 and body["code"] == "NOT_FOUND"

    async def test_disconnected_account(self, api: Client, db: Database, settings) -> None:
        other = await make_tenant(db, settings, status=AccountStatus.DISCONNECTED)
        api.tenant.account_id = other.account_id
        api.tenant.key, api.tenant.user_id = other.key, other.user_id
        status, body = await api.send()
        assert status == 400
        assert body["code"] == "WHATSAPP_ACCOUNT_NOT_CONNECTED"
        assert body["message"] == "WhatsApp account is not connected"

    async def test_oversized_body_is_413(self, api: Client) -> None:
        status, body = await api.call("POST", "/messages", data=b"{" + b" " * (11 * 2**20) + b"}",
                                      headers={"Content-Type": "application/json"})
        assert status == 413 and body["code"] == "PAYLOAD_TOO_LARGE"
