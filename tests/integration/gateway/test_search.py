"""GET /messages?q=&campaignId=&from=&to= and GET /contacts?q= on the real database.

Messages are stored through the message store (``MongoMessageStore.add``, which writes their
``searchText``), or sent through the API, the way every writer stores them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.db import Database
from shared.message_store import MongoMessageStore
from shared.messages import Message, new_outbound
from shared.models import MessageStatus, MessageType
from tests.integration.gateway.conftest import Client

pytestmark = pytest.mark.integration

BASE = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def put(db: Database, api: Client, content: str, *, name: str | None = None,
              to: str = "+15551234567", at: int = 0, account_id: str | None = None,
              **fields: Any) -> Message:
    """A message stored through the message store, created ``BASE + at`` seconds."""
    message = new_outbound(
        user_id=api.tenant.user_id, account_id=account_id or api.tenant.account_id,
        contact_id=fields.pop("contact_id", "contact-1"), to=to, type=MessageType.TEXT,
        content=content, now=BASE + timedelta(seconds=at), campaign_id=fields.pop("campaign", None))
    if fields:
        message = message.model_copy(update=fields)
    await MongoMessageStore(db).add(message, contact_name=name)
    return message


async def ids(api: Client, **params: Any) -> list[str]:
    status, body = await api.call("GET", "/messages", params=params)
    assert status == 200, body
    return [m["id"] for m in body["data"]["messages"]]


async def refused(api: Client, path: str = "/messages", **params: Any) -> tuple[str, str]:
    status, body = await api.call("GET", path, params=params)
    assert status == 400, body
    assert body["code"] == "VALIDATION_ERROR", body
    return body["details"][0]["field"], body["message"]


class TestSearch:
    async def test_a_word_of_the_content_finds_the_message(self, api: Client, db: Database) -> None:
        hit = await put(db, api, "Your parcel is on its way", at=1)
        await put(db, api, "Nothing to see here", at=2)
        assert await ids(api, q="parcel") == [hit.id]
        assert await ids(api, q="PARCEL!") == [hit.id]  # case and punctuation ignored

    async def test_every_word_must_occur(self, api: Client, db: Database) -> None:
        both = await put(db, api, "red apples and green pears", at=1)
        await put(db, api, "red cars", at=2)
        assert await ids(api, q="red pears") == [both.id]
        assert set(await ids(api, q="red")) == {both.id} | set(await ids(api, q="cars"))

    async def test_the_contact_name_and_phone_find_it(self, api: Client, db: Database) -> None:
        hit = await put(db, api, "hello", name="Ada Lovelace", to="+447700900123", at=1)
        await put(db, api, "hello", name="Grace", to="+15550001111", at=2)
        assert await ids(api, q="lovelace") == [hit.id]
        assert await ids(api, q="447700900123") == [hit.id]
        assert await ids(api, q="+44 7700900123".replace(" ", "")) == [hit.id]

    async def test_accents_are_ignored(self, api: Client, db: Database) -> None:
        hit = await put(db, api, "Crème brûlée tonight", at=1)
        assert await ids(api, q="creme brulee") == [hit.id]
        assert await ids(api, q="BRÛLÉE") == [hit.id]

    async def test_a_renamed_contact_is_found_by_its_new_name(
        self, api: Client, db: Database
    ) -> None:
        store = MongoMessageStore(db)
        hit = await put(db, api, "see you", name="Bob", contact_id="c-9", at=1)
        assert await store.rename_contact(api.tenant.user_id, "c-9", "Robert Smith") == 1
        assert await ids(api, q="robert") == [hit.id]
        assert await ids(api, q="bob") == []
        assert await ids(api, q="see") == [hit.id]  # the content still found

    async def test_a_message_sent_through_the_api_is_searchable(
        self, api: Client, db: Database
    ) -> None:
        await db.contacts.insert_one({
            "_id": str(uuid.uuid4()), "userId": api.tenant.user_id,
            "whatsappAccountId": api.tenant.account_id, "phone": "+15551234567",
            "name": "Zora Neale", "unreadCount": 0, "totalMessages": 0,
            "createdAt": BASE, "updatedAt": BASE})
        status, body = await api.send(content="Invoice 4471 attached")
        assert status == 202, body
        sent = body["data"]["id"]
        assert await ids(api, q="invoice 4471") == [sent]
        assert await ids(api, q="zora") == [sent]
        assert await ids(api, q="15551234567") == [sent]

    async def test_a_message_stored_before_search_existed_is_listed_not_found(
        self, api: Client, db: Database
    ) -> None:
        old = new_outbound(user_id=api.tenant.user_id, account_id=api.tenant.account_id,
                           contact_id="c", to="+15551234567", type=MessageType.TEXT,
                           content="legacy parcel", now=BASE)
        doc = old.to_doc()
        doc.pop("searchText")
        await db.messages.insert_one(doc)
        assert await ids(api) == [old.id]
        assert await ids(api, q="parcel") == []

    async def test_combined_with_status_and_account(self, api: Client, db: Database) -> None:
        other_account = str(uuid.uuid4())
        await db.accounts.insert_one({"_id": other_account, "userId": api.tenant.user_id,
                                      "name": "Two", "phoneNumberId": uuid.uuid4().hex[:12],
                                      "status": "Connected", "createdAt": BASE})
        failed = await put(db, api, "refund approved", at=1, status=MessageStatus.FAILED)
        await put(db, api, "refund approved", at=2)
        elsewhere = await put(db, api, "refund approved", at=3, account_id=other_account,
                              status=MessageStatus.FAILED)
        await put(db, api, "something else", at=4, status=MessageStatus.FAILED)
        assert await ids(api, q="refund", status="Failed",
                         whatsappAccountId=api.tenant.account_id) == [failed.id]
        assert await ids(api, q="refund", status="Failed") == [elsewhere.id, failed.id]
        assert len(await ids(api, q="refund")) == 3

    async def test_tenants_are_isolated(self, api: Client, api_b: Client, db: Database) -> None:
        mine = await put(db, api, "secret treasure map", at=1)
        await put(db, api_b, "secret treasure map", at=2)
        assert await ids(api, q="treasure") == [mine.id]
        status, body = await api_b.call("GET", "/messages", params={"q": "treasure"})
        assert status == 200, body
        assert mine.id not in [m["id"] for m in body["data"]["messages"]]
        assert body["data"]["total"] == 1

    async def test_cursor_pages_through_a_search_newest_first(
        self, api: Client, db: Database
    ) -> None:
        hits = [await put(db, api, f"promo code {i}", at=i) for i in range(7)]
        await put(db, api, "unrelated", at=3)
        seen: list[str] = []
        params: dict[str, Any] = {"q": "promo", "limit": 3}
        totals = set()
        while True:
            status, body = await api.call("GET", "/messages", params=params)
            assert status == 200, body
            seen += [m["id"] for m in body["data"]["messages"]]
            totals.add(body["data"]["total"])
            if body["data"]["nextCursor"] is None:
                break
            params = {**params, "cursor": body["data"]["nextCursor"]}
        assert seen == [m.id for m in reversed(hits)]
        assert totals == {7}

    async def test_regex_and_text_operators_are_literal(self, api: Client, db: Database) -> None:
        hit = await put(db, api, "a.b price $5 (approx) OR less", at=1)
        await put(db, api, "abc", at=2)
        assert await ids(api, q="a.*") == [hit.id]  # the word "a"; never a pattern
        assert await ids(api, q='"$5" -less') == [hit.id]  # no phrase, no negation
        assert await ids(api, q="NOT zzz OR less") == []  # every word, "zzz" absent


class TestFilters:
    async def test_campaign_id(self, api: Client, db: Database) -> None:
        hit = await put(db, api, "x", at=1, campaign="spring")
        await put(db, api, "x", at=2, campaign="autumn")
        await put(db, api, "x", at=3)
        assert await ids(api, campaignId="spring") == [hit.id]

    async def test_from_and_to_are_a_created_at_range(self, api: Client, db: Database) -> None:
        docs = [await put(db, api, "x", at=i * 60) for i in range(5)]
        start = (BASE + timedelta(minutes=1)).isoformat()
        end = (BASE + timedelta(minutes=3)).isoformat()
        assert await ids(api, **{"from": start, "to": end}) == [d.id for d in docs[3:0:-1]]
        # The seed's names mean the same, and mix with the new ones.
        assert await ids(api, startDate=start, to=end) == [d.id for d in docs[3:0:-1]]
        assert await ids(api, **{"from": start, "q": "x"}) == [d.id for d in docs[:0:-1]]


class TestRefusals:
    async def test_a_long_q_is_a_400_naming_q(self, api: Client) -> None:
        field, _ = await refused(api, q="x" * 10_000)
        assert field == "q"
        assert (await refused(api, q="y" * 201))[0] == "q"

    async def test_a_q_without_letters_or_digits_is_a_400(self, api: Client) -> None:
        field, message = await refused(api, q=".* ^$ ()")
        assert field == "q" and "letter or digit" in message

    async def test_from_after_to(self, api: Client) -> None:
        field, message = await refused(api, **{"from": "2026-12-02T00:00:00Z",
                                               "to": "2026-12-01T00:00:00Z"})
        assert field == "from" and "after" in message

    async def test_both_forms_of_one_bound(self, api: Client) -> None:
        field, _ = await refused(api, **{"from": "2026-12-01T00:00:00Z",
                                         "startDate": "2026-12-01T00:00:00Z"})
        assert field == "from"
        field, _ = await refused(api, to="2026-12-01T00:00:00Z", endDate="2026-12-01T00:00:00Z")
        assert field == "to"

    async def test_a_bad_date(self, api: Client) -> None:
        assert (await refused(api, **{"from": "yesterday"}))[0] == "from"

    async def test_a_cursor_of_other_filters_is_a_400(self, api: Client, db: Database) -> None:
        for i in range(3):
            await put(db, api, "promo", at=i)
        _, body = await api.call("GET", "/messages", params={"q": "promo", "limit": 1})
        cursor = body["data"]["nextCursor"]
        assert cursor
        field, message = await refused(api, q="other", cursor=cursor, limit=1)
        assert field == "cursor" and "other filters" in message
        assert (await refused(api, cursor=cursor, limit=1))[0] == "cursor"

    async def test_a_cursor_of_another_user_is_a_400(self, api: Client, api_b: Client,
                                                     db: Database) -> None:
        for i in range(3):
            await put(db, api, "promo", at=i)
        _, body = await api.call("GET", "/messages", params={"limit": 1})
        cursor = body["data"]["nextCursor"]
        field, _ = await refused(api_b, cursor=cursor, limit=1)
        assert field == "cursor"

    async def test_the_gateway_still_answers_after_a_refusal(self, api: Client) -> None:
        await refused(api, q="z" * 10_000)
        status, body = await api.call("GET", "/messages", params={"q": "fine"})
        assert status == 200 and body["data"]["messages"] == []


class TestContacts:
    async def contact(self, db: Database, api: Client, name: str | None, phone: str,
                      at: int) -> str:
        contact_id = str(uuid.uuid4())
        await db.contacts.insert_one({
            "_id": contact_id, "userId": api.tenant.user_id,
            "whatsappAccountId": api.tenant.account_id, "phone": phone, "name": name,
            "unreadCount": 0, "totalMessages": 0,
            "createdAt": BASE + timedelta(seconds=at), "updatedAt": BASE})
        return contact_id

    async def found(self, api: Client, **params: Any) -> list[str]:
        status, body = await api.call("GET", "/contacts", params=params)
        assert status == 200, body
        assert body["data"]["total"] == len(body["data"]["contacts"])
        return [c["id"] for c in body["data"]["contacts"]]

    async def test_by_name_or_phone(self, api: Client, api_b: Client, db: Database) -> None:
        ada = await self.contact(db, api, "Ada Lovelace", "+447700900123", 1)
        grace = await self.contact(db, api, "Grace (Hopper)", "+15550001111", 2)
        await self.contact(db, api, None, "+15559990000", 3)
        await self.contact(db, api_b, "Ada Other", "+447700900999", 4)
        assert await self.found(api, q="ada") == [ada]
        assert await self.found(api, q="LOVE") == [ada]
        assert await self.found(api, q="+44 7700") == [ada]
        assert await self.found(api, q="0001111") == [grace]
        assert await self.found(api, q="(Hopper)") == [grace]  # taken literally
        assert await self.found(api, q=".*") == []
        assert await self.found(api, q="ada", whatsappAccountId=api.tenant.account_id) == [ada]

    async def test_a_long_q_is_a_400(self, api: Client) -> None:
        field, _ = await refused(api, "/contacts", q="x" * 10_000)
        assert field == "q"
