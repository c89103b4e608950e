"""The sender with templates, interactive, location and reaction messages and the 24-hour
customer service window, against the real broker, database and simulator."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.db import Database
from shared.models import utcnow
from tests.conftest import eventually
from tests.integration.sender.support import Seeder, SimControl

pytestmark = pytest.mark.integration

OUTSIDE = ("The 24-hour customer service window is closed for this contact; "
           "send a template message")
COMPONENTS = [{"type": "body", "parameters": [{"type": "text", "text": "Ada"}]},
              {"type": "button", "sub_type": "url", "index": "0",
               "parameters": [{"type": "text", "text": "track-42"}]}]


def in_seconds(seconds: float) -> datetime:
    moment = datetime.fromtimestamp(time.time() + seconds, UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


async def final(seeder: Seeder, doc: dict[str, Any], status: str,
                timeout: float = 10.0) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        found = await seeder.status(doc)
        return found if found["status"] == status else None
    result: dict[str, Any] = await eventually(reached, timeout=timeout, message=status)
    return result


async def contact(db: Database, account: dict[str, Any], expires: datetime | None) -> str:
    contact_id = str(uuid.uuid4())
    now = utcnow()
    await db.contacts.insert_one({
        "_id": contact_id, "userId": account["userId"], "whatsappAccountId": account["_id"],
        "phone": "+15551234567", "name": None, "unreadCount": 0, "totalMessages": 1,
        "lastMessageAt": now, "lastInboundAt": now if expires else None,
        "windowExpiresAt": expires, "createdAt": now, "updatedAt": now})
    return contact_id


class TestNewKindsReachMeta:
    """Each kind reaches the Cloud API as Meta's object."""

    async def test_template_with_its_components_as_sent(
            self, seeder: Seeder, sim: SimControl, sender: Any) -> None:
        account = await seeder.account(window=True)  # a template needs no window
        template = {"name": "order_update", "language": "en_US", "components": COMPONENTS}
        [doc] = await seeder.messages(account, type_="Template", content="Hello Ada",
                                      template=template)
        await seeder.publish(doc)
        await final(seeder, doc, "Sent")
        [record] = await sim.sends_of(doc["_id"])
        assert record["type"] == "template"
        assert record["payload"]["template"] == {
            "name": "order_update", "language": {"code": "en_US"}, "components": COMPONENTS}

    async def test_interactive_location_and_reaction(
            self, seeder: Seeder, sim: SimControl, sender: Any) -> None:
        account = await seeder.account()
        interactive = {"type": "button", "body": {"text": "Keep it?"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": "y", "title": "Yes"}}]}}
        location = {"latitude": 52.52, "longitude": 13.405, "name": "Office"}
        reaction = {"messageId": "m-1", "emoji": "👍", "whatsappMessageId": "wamid.ABC"}
        docs = [
            *await seeder.messages(account, type_="Interactive", content="Keep it?",
                                   interactive=interactive),
            *await seeder.messages(account, type_="Location", content="Office",
                                   location=location),
            *await seeder.messages(account, type_="Reaction", content="👍", reaction=reaction),
        ]
        for doc in docs:
            await seeder.publish(doc)
        for doc in docs:
            await final(seeder, doc, "Sent")
        sent = {s["type"]: s["payload"] for s in await sim.sends()}
        assert sent["interactive"]["interactive"] == interactive
        assert sent["location"]["location"] == location
        assert sent["reaction"]["reaction"] == {"message_id": "wamid.ABC", "emoji": "👍"}


class TestCustomerWindowAtSendTime:
    """The window is judged again when a message goes out, not only when it was accepted."""

    async def test_scheduled_text_whose_window_closes_first_fails_unsent(
            self, seeder: Seeder, sim: SimControl, sender: Any, db: Database) -> None:
        account = await seeder.account(window=True)
        contact_id = await contact(db, account, in_seconds(1))
        [doc] = await seeder.messages(account, scheduled_for=in_seconds(2.5),
                                      contactId=contact_id)
        await seeder.publish(doc)
        failed = await final(seeder, doc, "Failed")
        assert failed["errorMessage"] == OUTSIDE
        assert await sim.sends_of(doc["_id"]) == []

    async def test_open_window_sends(
            self, seeder: Seeder, sim: SimControl, sender: Any, db: Database) -> None:
        account = await seeder.account(window=True)
        contact_id = await contact(db, account, utcnow() + timedelta(hours=1))
        [doc] = await seeder.messages(account, contactId=contact_id)
        await seeder.publish(doc)
        await final(seeder, doc, "Sent")

    async def test_131047_from_meta_is_final(
            self, seeder: Seeder, sim: SimControl, sender: Any) -> None:
        """Relay not enforcing, Meta does: refused once, Failed with the code, no retry."""
        await sim.call("POST", "config", {"enforceWindow": True})
        account = await seeder.account(window=False)
        [doc] = await seeder.messages(account)
        await seeder.publish(doc)
        failed = await final(seeder, doc, "Failed")
        assert failed["errorMessage"].startswith("(131047)") and failed["attempts"] == 1
        rejected = (await sim.call("GET", "rejected"))["rejected"]
        assert [r["code"] for r in rejected if r["messageId"] == doc["_id"]] == [131047]
