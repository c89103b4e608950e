"""Inbound kinds beyond the native five, and the customer service window on contacts, through
the real inbox and nx-27017."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.db import Database
from shared.models import MessageType
from tests import ingest_payloads as p
from tests.conftest import eventually
from tests.integration.ingest.conftest import Account, Ingest, as_instant, at, outbound

SENDER = "16505551234"
DAY = timedelta(hours=24)


async def stored(db: Database, wamids: list[str]) -> dict[str, dict[str, Any]]:
    async def all_there() -> dict[str, dict[str, Any]] | None:
        docs = await db.messages.find({"whatsappMessageId": {"$in": wamids}}).to_list()
        return {d["whatsappMessageId"]: d for d in docs} if len(docs) == len(wamids) else None

    found: dict[str, dict[str, Any]] = await eventually(all_there, timeout=20,
                                                        message=f"{len(wamids)} stored")
    return found


class TestKinds:
    """Replies, locations, reactions and unmodelled kinds are stored typed, none dropped."""

    async def test_each_kind_keeps_its_part(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        raws = [p.button_reply(sender=SENDER), p.list_reply(sender=SENDER),
                p.quick_reply(sender=SENDER), p.location(sender=SENDER),
                p.unknown_kind(sender=SENDER)]
        await ingest.post(p.webhook(p.value(accounts[0].phone_number_id, messages=raws)))
        docs = await stored(db, [raw["id"] for raw in raws])
        button, listed, quick, place, unknown = (docs[raw["id"]] for raw in raws)
        assert (button["type"], button["content"]) == (MessageType.INTERACTIVE, "Yes")
        assert button["interactive"] == {"type": "button_reply", "id": "yes", "title": "Yes"}
        assert (listed["type"], listed["content"]) == (MessageType.INTERACTIVE, "Tomorrow")
        assert listed["interactive"]["type"] == "list_reply"
        assert quick["interactive"] == {"type": "button", "text": "Confirm",
                                        "payload": "CONFIRM"}
        assert (place["type"], place["content"]) == (MessageType.LOCATION,
                                                     "Office, Alexanderplatz 1, Berlin")
        assert place["location"]["latitude"] == 52.52
        assert (unknown["type"], unknown["raw"]) == (MessageType.UNSUPPORTED, raws[-1])
        for doc in (button, listed, quick, place):
            assert doc.get("raw") is None

    async def test_a_reaction_names_relays_message_of_the_same_account(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        mine = await outbound(db, accounts[0])
        foreign = await outbound(db, accounts[2])  # another user's account
        earlier = p.text("look at this", sender=SENDER)
        raws = [earlier, p.reaction(mine["whatsappMessageId"], "👍", sender=SENDER),
                p.reaction(foreign["whatsappMessageId"], "🔥", sender=SENDER),
                p.reaction("wamid.NEVERSEEN", "", sender=SENDER),
                p.reaction(earlier["id"], "😂", sender=SENDER)]
        await ingest.post(p.webhook(p.value(accounts[0].phone_number_id, messages=raws)))
        docs = await stored(db, [raw["id"] for raw in raws])
        to_mine, to_foreign, removed, to_earlier = (docs[raw["id"]] for raw in raws[1:])
        assert (to_mine["type"], to_mine["content"]) == (MessageType.REACTION, "👍")
        assert to_mine["reaction"] == {"messageId": mine["_id"], "emoji": "👍",
                                       "whatsappMessageId": mine["whatsappMessageId"]}
        assert to_foreign["reaction"] == {"messageId": None, "emoji": "🔥",
                                          "whatsappMessageId": foreign["whatsappMessageId"]}
        assert (removed["content"], removed["reaction"]["emoji"]) == (None, "")
        assert removed["reaction"]["messageId"] is None
        assert to_earlier["reaction"]["messageId"] == docs[earlier["id"]]["_id"]


class TestCustomerWindow:
    """Ingest opens the window in the write that counts the message, and never moves it back."""

    async def test_window_follows_the_latest_message_the_user_wrote(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        pnid = accounts[0].phone_number_id
        first = p.text("one", sender=SENDER, ts=p.TS)
        contact = await self._after(ingest, db, pnid, first, 1)
        assert as_instant(contact["lastInboundAt"]) == at(p.TS)
        assert as_instant(contact["windowExpiresAt"]) == at(p.TS) + DAY

        newer = p.button_reply(sender=SENDER, ts=p.TS + 3600)
        contact = await self._after(ingest, db, pnid, newer, 2)
        assert as_instant(contact["lastInboundAt"]) == at(p.TS + 3600)
        assert as_instant(contact["windowExpiresAt"]) == at(p.TS + 3600) + DAY

        older = p.text("delayed", sender=SENDER, ts=p.TS - 600)  # delivered late, out of order
        contact = await self._after(ingest, db, pnid, older, 3)
        assert as_instant(contact["windowExpiresAt"]) == at(p.TS + 3600) + DAY

        notice = p.sample("system", sender=SENDER, ts=p.TS + 7200)  # WhatsApp's, not the user's
        contact = await self._after(ingest, db, pnid, notice, 4)
        assert as_instant(contact["lastMessageAt"]) == at(p.TS + 7200)
        assert as_instant(contact["lastInboundAt"]) == at(p.TS + 3600)

        assert await ingest.post(p.webhook(p.value(pnid, messages=[first]))) == 200  # replay
        await ingest.until_events("message", "duplicate", 1)
        again = await db.contacts.find_one({"_id": contact["_id"]})
        assert again is not None and again["totalMessages"] == 4
        assert as_instant(again["windowExpiresAt"]) == at(p.TS + 3600) + DAY

    async def test_the_window_is_per_contact(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        batch = [p.text("a", sender=SENDER, ts=p.TS), p.text("b", sender="4915112345678",
                                                            ts=p.TS + 60)]
        await ingest.post(p.webhook(p.value(accounts[0].phone_number_id, messages=batch)))
        await ingest.until_events("message", "applied", 2)

        async def both() -> dict[str, dict[str, Any]] | None:
            docs = await db.contacts.find({"totalMessages": 1}).to_list()
            return {d["phone"]: d for d in docs} if len(docs) == 2 else None

        contacts = await eventually(both, message="both contacts counted")
        assert as_instant(contacts["+" + SENDER]["lastInboundAt"]) == at(p.TS)
        assert as_instant(contacts["+4915112345678"]["lastInboundAt"]) == at(p.TS + 60)

    async def _after(self, ingest: Ingest, db: Database, pnid: str, raw: dict[str, Any],
                     total: int) -> dict[str, Any]:
        assert await ingest.post(p.webhook(p.value(pnid, messages=[raw]))) == 200

        async def counted() -> dict[str, Any] | None:
            return await db.contacts.find_one({"phone": "+" + SENDER, "totalMessages": total})

        contact: dict[str, Any] = await eventually(counted, timeout=20,
                                                   message=f"{total} counted")
        return contact
