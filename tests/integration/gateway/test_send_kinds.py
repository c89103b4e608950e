"""POST /messages with templates, interactive, location and reaction messages, and the 24-hour
customer service window, on the real gateway, database, broker and simulator: what is stored,
and every refusal a 400 with its code that stores nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from shared.db import Database
from shared.models import utcnow
from shared.settings import Settings
from shared.template_store import MongoTemplateStore
from shared.templates import Template, TemplateStatus, template_id
from tests.integration.gateway import factories
from tests.integration.gateway.conftest import Client, Tenant, make_tenant

pytestmark = pytest.mark.integration

OUTSIDE = ("The 24-hour customer service window is closed for this contact; "
           "send a template message")
BODY_TEXT = "Hello {{1}}, your order {{2}} has shipped."
TEMPLATE = {"name": "order_update", "language": "en_US", "components": [
    {"type": "body", "parameters": [{"type": "text", "text": "Ada"},
                                    {"type": "text", "text": "#42"}]}]}
PHONE = "+15551234567"


async def add_template(db: Database, tenant: Tenant, *, name: str = "order_update",
                       status: TemplateStatus = TemplateStatus.APPROVED) -> None:
    await MongoTemplateStore(db).add(Template(
        _id=template_id(tenant.account_id, name, "en_US"), whatsapp_account_id=tenant.account_id,
        user_id=tenant.user_id, name=name, language="en_US", category="UTILITY", status=status,
        components=[{"type": "BODY", "text": BODY_TEXT}]))


async def nothing_stored(db: Database, tenant: Tenant) -> None:
    """No message, no contact created, no unit of the daily limit kept."""
    assert await db.messages.find_one({"userId": tenant.user_id}) is None
    assert await db.contacts.find_one({"userId": tenant.user_id, "phone": PHONE}) is None
    usage = await db.daily_usage.find_one({"_id": {"$regex": f"^{tenant.account_id}:"}})
    assert usage is None or usage["count"] == 0


async def refused(api: Client, code: str, **fields: Any) -> dict[str, Any]:
    status, body = await api.send(**fields)
    assert status == 400, body
    assert body["success"] is False and body["code"] == code, body
    return body


class TestTemplates:
    """Checked against the account's registry when accepted; the rendered body is stored."""

    async def test_approved_template_is_queued_with_the_rendered_body(
            self, api: Client, db: Database) -> None:
        await add_template(db, api.tenant)
        status, body = await api.send(type="Template", content=None, template=TEMPLATE)
        assert status == 202, body
        stored = await db.messages.find_one({"_id": body["data"]["id"]})
        assert stored["type"] == "Template"
        assert stored["content"] == "Hello Ada, your order #42 has shipped."
        assert stored["template"] == TEMPLATE
        status, shown = await api.call("GET", f"/messages/{body['data']['id']}")
        assert shown["data"]["content"] == stored["content"]

    async def test_unknown_template_without_waba_is_not_found(
            self, api: Client, db: Database) -> None:
        body = await refused(api, "TEMPLATE_NOT_FOUND", type="Template", content=None,
                             template=TEMPLATE)
        assert "order_update" in body["message"]
        await nothing_stored(db, api.tenant)

    async def test_unknown_template_is_synced_once_from_meta(
            self, http: TestClient, sim: TestClient, db: Database, settings: Settings) -> None:
        """Created at Meta but not synced yet: the accept path syncs once and finds it."""
        waba = f"waba-{uuid.uuid4().hex[:8]}"
        api = Client(http, await make_tenant(db, settings, waba_id=waba))
        seeded = await sim.post("/_sim/templates", json={"wabaId": waba, "templates": [
            {"name": "order_update", "language": "en_US", "category": "UTILITY",
             "components": [{"type": "BODY", "text": BODY_TEXT}]}]})
        assert seeded.status == 200, await seeded.text()
        status, body = await api.send(type="Template", content=None, template=TEMPLATE)
        assert status == 202, body
        assert await db.templates.find_one({"whatsappAccountId": api.tenant.account_id})
        body = await refused(api, "TEMPLATE_NOT_FOUND", type="Template", content=None,
                             template={**TEMPLATE, "name": "not_at_meta"})

    async def test_pending_template_is_not_approved(self, api: Client, db: Database) -> None:
        await add_template(db, api.tenant, status=TemplateStatus.PENDING)
        body = await refused(api, "TEMPLATE_NOT_APPROVED", type="Template", content=None,
                             template=TEMPLATE)
        assert "PENDING" in body["message"]
        await nothing_stored(db, api.tenant)

    async def test_parameters_that_do_not_fit(self, api: Client, db: Database) -> None:
        await add_template(db, api.tenant)
        short = {**TEMPLATE, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ada"}]}]}
        body = await refused(api, "TEMPLATE_PARAMETERS_INVALID", type="Template", content=None,
                             template=short)
        assert "body expects 2 parameters, got 1" in body["message"]
        await nothing_stored(db, api.tenant)

    async def test_template_part_on_a_text_is_named(self, api: Client, db: Database) -> None:
        body = await refused(api, "VALIDATION_ERROR", template=TEMPLATE)
        assert "template" in body["message"]
        await nothing_stored(db, api.tenant)


class TestOtherKinds:
    """Interactive, location and reaction messages are stored with their part and content."""

    async def test_interactive_list(self, api: Client, db: Database) -> None:
        interactive = {"type": "list", "body": {"text": "Pick a slot"}, "action": {
            "button": "Slots", "sections": [{"title": "Today", "rows": [
                {"id": "a", "title": "9:00"}, {"id": "b", "title": "10:00"}]}]}}
        status, body = await api.send(type="Interactive", content=None, interactive=interactive)
        assert status == 202, body
        stored = await db.messages.find_one({"_id": body["data"]["id"]})
        assert stored["interactive"] == interactive and stored["content"] == "Pick a slot"

    async def test_interactive_with_four_buttons_is_refused(
            self, api: Client, db: Database) -> None:
        buttons = [{"type": "reply", "reply": {"id": str(i), "title": "t"}} for i in range(4)]
        body = await refused(api, "VALIDATION_ERROR", type="Interactive", content=None,
                             interactive={"type": "button", "body": {"text": "?"},
                                          "action": {"buttons": buttons}})
        assert body["details"][0]["field"] == "interactive"
        await nothing_stored(db, api.tenant)

    async def test_location(self, api: Client, db: Database) -> None:
        location = {"latitude": 52.52, "longitude": 13.405, "name": "Office"}
        status, body = await api.send(type="Location", content=None, location=location)
        assert status == 202, body
        stored = await db.messages.find_one({"_id": body["data"]["id"]})
        assert stored["location"] == location and stored["content"] == "Office"

    async def test_location_out_of_range(self, api: Client, db: Database) -> None:
        body = await refused(api, "VALIDATION_ERROR", type="Location", content=None,
                             location={"latitude": 91, "longitude": 0})
        assert body["details"][0]["field"] == "location.latitude"
        await nothing_stored(db, api.tenant)

    async def test_reaction_keeps_the_reacted_wamid(self, api: Client, db: Database) -> None:
        target = await factories.inbound(db, user_id=api.tenant.user_id,
                                         account_id=api.tenant.account_id)
        status, body = await api.send(type="Reaction", content=None,
                                      reaction={"messageId": target["_id"], "emoji": "👍"})
        assert status == 202, body
        stored = await db.messages.find_one({"_id": body["data"]["id"]})
        assert stored["reaction"] == {"messageId": target["_id"], "emoji": "👍",
                                      "whatsappMessageId": target["whatsappMessageId"]}
        assert stored["content"] == "👍"

    async def test_reaction_to_another_users_message_is_refused_like_an_unknown_one(
            self, api: Client, api_b: Client, db: Database) -> None:
        theirs = await factories.inbound(db, user_id=api_b.tenant.user_id,
                                         account_id=api_b.tenant.account_id)
        answers = []
        for message_id in (theirs["_id"], "no-such-message"):
            body = await refused(api, "VALIDATION_ERROR", type="Reaction", content=None,
                                 reaction={"messageId": message_id, "emoji": "👍"})
            assert body["details"][0]["field"] == "reaction.messageId"
            answers.append(body["message"])
        assert answers[0] == answers[1]
        assert await db.messages.find_one({"userId": api.tenant.user_id}) is None

    async def test_reaction_to_an_unsent_message(self, api: Client, db: Database) -> None:
        unsent = await factories.message(db, user_id=api.tenant.user_id,
                                         account_id=api.tenant.account_id)
        body = await refused(api, "VALIDATION_ERROR", type="Reaction", content=None,
                             reaction={"messageId": unsent["_id"], "emoji": "👍"})
        assert body["details"][0]["field"] == "reaction.messageId"
        assert await db.messages.count_documents({"userId": api.tenant.user_id}) == 1


@pytest.fixture
async def strict(http: TestClient, db: Database, settings: Settings) -> Client:
    """A tenant whose account enforces the customer window."""
    return Client(http, await make_tenant(db, settings, enforce_customer_window=True))


async def contact(db: Database, tenant: Tenant, expires: Any) -> str:
    now = utcnow()
    contact_id = str(uuid.uuid4())
    await db.contacts.insert_one({
        "_id": contact_id, "userId": tenant.user_id, "whatsappAccountId": tenant.account_id,
        "phone": PHONE, "name": "Ada", "unreadCount": 0, "totalMessages": 1,
        "lastMessageAt": now, "lastInboundAt": None if expires is None else now,
        "windowExpiresAt": expires, "createdAt": now, "updatedAt": now})
    return contact_id


class TestCustomerWindow:
    """An enforcing account sends only templates to a contact whose window is closed."""

    async def test_contact_that_never_wrote(self, strict: Client, db: Database) -> None:
        body = await refused(strict, "OUTSIDE_CUSTOMER_WINDOW")
        assert body["message"] == OUTSIDE
        await nothing_stored(db, strict.tenant)

    async def test_expired_window(self, strict: Client, db: Database) -> None:
        await contact(db, strict.tenant, utcnow() - timedelta(minutes=1))
        await refused(strict, "OUTSIDE_CUSTOMER_WINDOW", type="Location", content=None,
                      location={"latitude": 1.0, "longitude": 2.0})
        assert await db.messages.find_one({"userId": strict.tenant.user_id}) is None

    async def test_open_window_accepts_and_counts_on_the_contact(
            self, strict: Client, db: Database) -> None:
        contact_id = await contact(db, strict.tenant, utcnow() + timedelta(hours=2))
        for _ in range(2):
            status, body = await strict.send()
            assert status == 202, body
            assert body["data"]["contactId"] == contact_id
        async def counted() -> bool:
            found = await db.contacts.find_one({"_id": contact_id})
            return found["totalMessages"] == 3
        from tests.conftest import eventually
        await eventually(counted, message="both sends counted on the contact")

    async def test_window_read_back_as_the_embedded_servers_string(
            self, strict: Client, db: Database) -> None:
        later = (utcnow() + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
        await contact(db, strict.tenant, later)
        assert (await strict.send())[0] == 202

    async def test_reopened_window_is_seen_at_once(self, strict: Client, db: Database) -> None:
        contact_id = await contact(db, strict.tenant, utcnow() - timedelta(hours=1))
        await refused(strict, "OUTSIDE_CUSTOMER_WINDOW")
        await db.contacts.update_one({"_id": contact_id}, {"$set": {
            "windowExpiresAt": utcnow() + timedelta(hours=24)}})
        assert (await strict.send())[0] == 202

    async def test_templates_go_outside_the_window(self, strict: Client, db: Database) -> None:
        await add_template(db, strict.tenant)
        status, body = await strict.send(type="Template", content=None, template=TEMPLATE)
        assert status == 202, body

    async def test_scheduled_text_is_judged_at_accept(self, strict: Client, db: Database) -> None:
        later = (utcnow() + timedelta(hours=1)).isoformat()
        await refused(strict, "OUTSIDE_CUSTOMER_WINDOW", scheduledFor=later)
        await contact(db, strict.tenant, utcnow() + timedelta(minutes=30))
        status, body = await strict.send(scheduledFor=later)
        assert status == 202, body

    async def test_account_that_turned_it_off(self, api: Client, db: Database) -> None:
        assert (await api.send())[0] == 202
