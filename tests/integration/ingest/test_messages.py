"""Inbound messages through the real inbox: every type, batches, replays, contacts, media."""

from __future__ import annotations

from typing import Any

from shared.db import Database
from shared.media import FileMediaStore
from shared.models import MessageType
from tests import ingest_payloads as p
from tests import media_samples
from tests.conftest import eventually
from tests.integration.ingest.conftest import Account, Ingest, as_instant, at

SENDER = "16505551234"
MEDIA_BYTES = {
    "1479537139650973": media_samples.jpeg(), "1479537139650974": media_samples.mp4(),
    "1479537139650975": media_samples.ogg(), "1479537139650976": media_samples.pdf(),
    "1479537139650977": media_samples.webp(),
}


async def stored(db: Database, count: int, **query: Any) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        docs = await db.messages.find(query).to_list()
        return docs if len(docs) >= count else None

    docs: list[dict[str, Any]] = await eventually(enough, timeout=20, message=f"{count} stored")
    return docs


async def events_of(db: Database, message_ids: list[str]) -> list[dict[str, Any]]:
    return await db.events.find({"messageId": {"$in": message_ids}}).to_list()


class TestEveryType:
    """A batch with one message of every type is stored once, typed, with media and events."""

    async def test_every_type_is_kept_and_a_replay_changes_nothing(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        ingest.media.files.update(MEDIA_BYTES)
        account = accounts[0]
        raws = {kind: p.sample(kind, sender=SENDER, ts=p.TS + n)
                for n, kind in enumerate(sorted(p.SAMPLES))}
        payload = p.webhook(p.value(account.phone_number_id, contacts=[p.contact(SENDER, "Ada")],
                                    messages=list(raws.values())))
        assert await ingest.post(payload) == 200
        docs = {d["whatsappType"]: d for d in await stored(db, len(raws))}
        assert set(docs) == set(raws)
        for kind, doc in docs.items():
            assert doc["whatsappMessageId"] == raws[kind]["id"]
            assert (doc["direction"], doc["status"], doc["version"]) == ("Inbound", "Delivered", 1)
            assert doc["from"] == "+" + SENDER and doc["attempts"] == 0
            assert as_instant(doc["deliveredAt"]) == at(int(raws[kind]["timestamp"]))
            assert doc["userId"] == account.user_id and doc["whatsappAccountId"] == account.id
        assert docs["text"]["content"] == "Where is my order?"
        assert docs["location"]["type"] == MessageType.LOCATION
        assert docs["location"]["location"]["name"] == "Office"
        assert docs["interactive"]["type"] == docs["button"]["type"] == MessageType.INTERACTIVE
        assert docs["reaction"]["type"] == MessageType.REACTION
        for kind in ("sticker", "contacts", "order", "system", "unknown"):
            assert docs[kind]["type"] == MessageType.UNSUPPORTED, kind
            assert docs[kind]["raw"] == raws[kind], kind
        await self._check_media(ingest, db, docs, account)
        ids = [d["_id"] for d in docs.values()]
        await eventually(lambda: self._all_logged(db, ids), message="message.received events")
        contact = await db.contacts.find_one({"whatsappAccountId": account.id})
        assert contact is not None
        assert (contact["phone"], contact["name"]) == ("+" + SENDER, "Ada")
        assert (contact["unreadCount"], contact["totalMessages"]) == (len(raws), len(raws))

        assert await ingest.post(payload) == 200  # Meta's retry of the same POST
        await ingest.until_events("message", "duplicate", len(raws))
        assert await db.messages.count_documents({}) == len(raws)
        again = await db.contacts.find_one({"_id": contact["_id"]})
        assert (again["unreadCount"], again["totalMessages"]) == (len(raws), len(raws))
        assert len(await events_of(db, ids)) == len(raws)
        assert await db.media.count_documents({}) == len(MEDIA_BYTES)

    async def _all_logged(self, db: Database, ids: list[str]) -> bool:
        events = await events_of(db, ids)
        return len(events) == len(ids) and {e["type"] for e in events} == {"message.received"}

    async def _check_media(self, ingest: Ingest, db: Database, docs: dict[str, Any],
                           account: Account) -> None:
        store = FileMediaStore(ingest.settings.data_dir / "media")
        for kind in p.MEDIA_KINDS:
            doc = docs[kind]
            media = await db.media.find_one({"_id": doc["mediaId"]})
            assert media is not None, kind
            assert doc["mediaUrl"] == f"{ingest.settings.gateway_url}/api/v1/media/{media['_id']}"
            assert await store.get(media["key"]) == MEDIA_BYTES[doc["whatsappMediaId"]]
            assert media["userId"] == account.user_id
            assert media["size"] == len(MEDIA_BYTES[doc["whatsappMediaId"]])
        mimes = {k: (await db.media.find_one({"_id": docs[k]["mediaId"]}))["mimeType"]
                 for k in ("image", "document", "sticker")}
        assert mimes == {"image": "image/jpeg", "document": "application/pdf",
                         "sticker": "image/webp"}
        assert set(ingest.media.tokens) == {account.token}


class TestMixedBatches:
    """Messages and statuses of several accounts in one POST, sent twice: applied once each."""

    async def test_each_event_applied_exactly_once(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        from tests.integration.ingest.conftest import outbound

        sent = [await outbound(db, account) for account in accounts]
        values = []
        for n, account in enumerate(accounts):
            values.append(p.value(
                account.phone_number_id,
                contacts=[p.contact(SENDER, f"Ada {n}")],
                messages=[p.text(f"m{n}-{k}", sender=SENDER) for k in range(3)],
                statuses=[p.status(sent[n]["whatsappMessageId"], "delivered", ts=p.TS + 10),
                          p.status(sent[n]["whatsappMessageId"], "read", ts=p.TS + 20)],
            ))
        values.append(p.value("999999999", messages=[p.text("to nobody")],
                              statuses=[p.status("wamid.nobody", "read")]))
        values.append(p.value(accounts[0].phone_number_id,
                              errors=[{"code": 131000, "title": "Something went wrong"}]))
        payload = p.webhook(*values, entries=3)
        for _ in range(2):
            assert await ingest.post(payload) == 200
        await ingest.until_events("error", "logged", 2)  # the last handler of each delivery
        assert ingest.events("message", "applied") == 9
        assert ingest.events("message", "duplicate") == 9
        assert ingest.events("message", "unknown_account") == 2
        assert ingest.events("status", "unknown_account") == 2
        assert await db.messages.count_documents({"direction": "Inbound"}) == 9
        for n, account in enumerate(accounts):
            contact = await db.contacts.find_one({"whatsappAccountId": account.id})
            assert contact is not None and contact["name"] == f"Ada {n}"
            assert (contact["unreadCount"], contact["totalMessages"]) == (3, 3)
            done = await eventually(lambda i=n: self._read(db, sent[i]["_id"]))
            assert done["version"] == 4
        received = await db.events.count_documents({"type": "message.received"})
        assert received == 9

    async def _read(self, db: Database, message_id: str) -> dict[str, Any] | None:
        doc = await db.messages.find_one({"_id": message_id, "status": "Read"})
        events = await db.events.count_documents({"messageId": message_id})
        return doc if doc and events == 2 and not doc.get("eventPending") else None


class TestContacts:
    """Contacts are found or created once per (account, phone); the profile name stays current."""

    async def test_profile_name_is_kept_current(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        pnid = accounts[0].phone_number_id
        for n, name in enumerate(["Ada", "Ada Lovelace"]):
            msg = p.text(f"hi {n}", sender=SENDER)
            await ingest.post(p.webhook(p.value(pnid, contacts=[p.contact(SENDER, name)],
                                                messages=[msg])))
            await ingest.until_events("message", "applied", n + 1)
        [contact] = await db.contacts.find({}).to_list()
        assert contact["name"] == "Ada Lovelace"
        assert contact["totalMessages"] == 2
        # Both messages are found by the current name (the first rewritten by the rename),
        # by their words and by the phone's digits (shared/search.py).
        texts = {d["content"]: d["searchText"] for d in await db.messages.find({}).to_list()}
        assert texts == {f"hi {n}": f"hi {n} ada lovelace {SENDER}" for n in range(2)}

    async def test_a_message_without_a_profile_takes_the_stored_name(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        pnid = accounts[0].phone_number_id
        for n, contacts in enumerate([[p.contact(SENDER, "Grace")], []]):
            await ingest.post(p.webhook(p.value(pnid, contacts=contacts,
                                                messages=[p.text(f"yo {n}", sender=SENDER)])))
            await ingest.until_events("message", "applied", n + 1)
        texts = {d["content"]: d["searchText"] for d in await db.messages.find({}).to_list()}
        assert texts["yo 1"] == f"yo 1 grace {SENDER}"

    async def test_a_crash_before_counting_is_finished_by_the_replay(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        """The worker died after inserting the message and before the contact update."""
        pnid = accounts[0].phone_number_id
        first = p.text("one", sender=SENDER)
        await ingest.post(p.webhook(p.value(pnid, messages=[first])))
        await ingest.until_events("message", "applied", 1)
        [doc] = await stored(db, 1)
        await eventually(lambda: self._counted(db, doc["_id"]))
        # Put the database back into the state the crash left: inserted, not counted.
        await db.contacts.update_one({"_id": doc["contactId"]}, {
            "$set": {"unreadCount": 0, "totalMessages": 0, "countedMessageIds": []}})
        await db.messages.update_one({"_id": doc["_id"]}, {"$set": {"contactCounted": False}})
        await ingest.post(p.webhook(p.value(pnid, messages=[first])))
        await ingest.until_events("message", "duplicate", 1)
        contact = await eventually(lambda: self._counted(db, doc["_id"]))
        assert (contact["unreadCount"], contact["totalMessages"]) == (1, 1)

    async def test_a_crash_after_counting_does_not_count_twice(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        """The worker died after the contact update and before flagging the message."""
        pnid = accounts[0].phone_number_id
        first = p.text("one", sender=SENDER)
        await ingest.post(p.webhook(p.value(pnid, messages=[first])))
        [doc] = await stored(db, 1)
        await eventually(lambda: self._counted(db, doc["_id"]))
        await db.messages.update_one({"_id": doc["_id"]}, {"$set": {"contactCounted": False}})
        await ingest.post(p.webhook(p.value(pnid, messages=[first])))
        await ingest.until_events("message", "duplicate", 1)
        contact = await eventually(lambda: self._counted(db, doc["_id"]))
        assert (contact["unreadCount"], contact["totalMessages"]) == (1, 1)

    async def _counted(self, db: Database, message_id: str) -> dict[str, Any] | None:
        doc = await db.messages.find_one({"_id": message_id, "contactCounted": True})
        return await db.contacts.find_one({"_id": doc["contactId"]}) if doc else None


class TestMediaFailure:
    """Media that cannot be fetched does not lose the message: it says why instead."""

    async def test_message_kept_with_error(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        raw = p.message("image", {"id": "404404", "caption": "see this"}, sender=SENDER)
        await ingest.post(p.webhook(p.value(accounts[0].phone_number_id, messages=[raw])))
        [doc] = await stored(db, 1)
        assert doc["mediaUrl"] is None and doc["content"] == "see this"
        assert "Media could not be downloaded" in doc["errorMessage"]
        assert doc["status"] == "Delivered" and doc["whatsappMediaId"] == "404404"
        assert ingest.events("media", "failed") == 1

    async def test_a_transient_failure_is_retried_and_the_media_kept(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        ingest.media.files["1479537139650973"] = MEDIA_BYTES["1479537139650973"]
        ingest.media.unreachable_times = 2
        raw = p.sample("image", sender=SENDER)
        await ingest.post(p.webhook(p.value(accounts[0].phone_number_id,
                                            contacts=[p.contact(SENDER, "Ada")], messages=[raw])))
        [doc] = await stored(db, 1)
        assert doc["errorMessage"] is None and doc["mediaUrl"] and doc["mediaId"]
        assert ingest.events("message", "deferred") == 2
        assert ingest.events("media", "stored") == 1
        contact = await db.contacts.find_one({"_id": doc["contactId"]})
        assert contact is not None and contact["name"] == "Ada"
        await eventually(lambda: db.messages.find_one({"_id": doc["_id"], "contactCounted": True}))
        contact = await db.contacts.find_one({"_id": doc["contactId"]})
        assert contact is not None and contact["totalMessages"] == 1
