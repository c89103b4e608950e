"""Status webhooks through the real inbox: any order, duplicates, failures, and the race with
the sender's record of the wamid."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from shared import topology
from shared.broker import Broker
from shared.db import Database
from shared.models import STATUS_RANK, MessageStatus
from tests import ingest_payloads as p
from tests.conftest import eventually
from tests.integration.ingest.conftest import Account, Ingest, as_instant, at, outbound

TIMES = {"sent": p.TS + 1, "delivered": p.TS + 2, "read": p.TS + 3}
HANDLED = ("applied", "duplicate", "stale", "timestamp")


def handled(ingest: Ingest) -> float:
    return sum(ingest.events("status", outcome) for outcome in HANDLED)


async def until_handled(ingest: Ingest, count: int) -> None:
    async def done() -> bool:
        return handled(ingest) >= count

    await eventually(done, timeout=30, message=f"{count} statuses handled")


async def post_status(ingest: Ingest, account: Account, wamid: str, name: str, **kw: Any) -> None:
    payload = p.webhook(p.value(account.phone_number_id,
                                statuses=[p.status(wamid, name, ts=TIMES.get(name, p.TS), **kw)]))
    assert await ingest.post(payload) == 200


async def settled(db: Database, message_id: str) -> dict[str, Any]:
    """The message once its latest event is recorded."""
    async def check() -> dict[str, Any] | None:
        doc = await db.messages.find_one({"_id": message_id})
        return doc if doc and not doc.get("eventPending") else None

    found: dict[str, Any] = await eventually(check, timeout=20, message="events recorded")
    return found


class TestOrder:
    """Every permutation of sent, delivered, read, each sent twice, ends Read with the three
    webhook timestamps, and its events only ever move forward."""

    async def test_every_permutation_duplicated_ends_read(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        account = accounts[0]
        orders = list(itertools.permutations(["sent", "delivered", "read"]))
        docs = [await outbound(db, account) for _ in orders]
        for doc, order in zip(docs, orders, strict=True):
            for name in order:
                for _ in range(2):
                    await post_status(ingest, account, doc["whatsappMessageId"], name)
        await until_handled(ingest, len(orders) * 6)
        for doc, order in zip(docs, orders, strict=True):
            final = await settled(db, doc["_id"])
            assert final["status"] == "Read", order
            for name, field in (("sent", "sentAt"), ("delivered", "deliveredAt"),
                                ("read", "readAt")):
                assert as_instant(final[field]) == at(TIMES[name]), (order, field)
            events = await db.events.find({"messageId": doc["_id"]}).to_list()
            ranks = [STATUS_RANK[MessageStatus(e["status"])]
                     for e in sorted(events, key=lambda e: e["version"])]
            assert ranks == sorted(set(ranks)), (order, ranks)
            assert events and max(ranks) == STATUS_RANK[MessageStatus.READ]

    async def test_read_without_delivered_sets_delivered_at(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        doc = await outbound(db, accounts[0])
        await post_status(ingest, accounts[0], doc["whatsappMessageId"], "read")
        await until_handled(ingest, 1)
        final = await settled(db, doc["_id"])
        assert final["status"] == "Read" and final["version"] == 3
        assert as_instant(final["deliveredAt"]) == at(TIMES["read"])
        assert as_instant(final["readAt"]) == at(TIMES["read"])
        event = await db.events.find_one({"_id": f"{doc['_id']}:3"})
        assert event is not None and event["type"] == "message.read"


class TestFailed:
    """failed is terminal and carries Meta's error; nothing moves it afterwards."""

    async def test_failed_after_delivered_stays_failed(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        account = accounts[0]
        doc = await outbound(db, account)
        wamid = doc["whatsappMessageId"]
        await post_status(ingest, account, wamid, "delivered")
        await until_handled(ingest, 1)
        await post_status(ingest, account, wamid, "failed", errors=[p.RE_ENGAGEMENT])
        await until_handled(ingest, 2)
        await post_status(ingest, account, wamid, "read")
        await post_status(ingest, account, wamid, "failed", errors=[p.RE_ENGAGEMENT])
        await until_handled(ingest, 4)
        final = await settled(db, doc["_id"])
        assert final["status"] == "Failed" and final["version"] == 4
        assert final["errorMessage"] == "(131047) Re-engagement message: Customer window closed."
        assert final.get("readAt") is None
        types = sorted(e["type"] for e in await db.events.find({"messageId": doc["_id"]}).to_list())
        assert types == ["message.delivered", "message.failed"]


class TestRace:
    """A status that outruns the sender's record of the wamid is retried, then applied once."""

    async def test_status_before_the_wamid_is_recorded(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        account = accounts[0]
        wamid = p.wamid()
        await post_status(ingest, account, wamid, "delivered")
        await post_status(ingest, account, wamid, "read")
        await ingest.until_events("status", "deferred", 2)
        doc = await outbound(db, account, wamid=wamid)  # the sender records it only now
        await until_handled(ingest, 2)
        final = await settled(db, doc["_id"])
        assert final["status"] == "Read"
        assert as_instant(final["deliveredAt"]) == at(TIMES["delivered"])
        assert as_instant(final["readAt"]) == at(TIMES["read"])
        assert ingest.events("status", "parked") == 0

    async def test_a_status_for_a_wamid_that_never_appears_is_parked(
        self, start_ingest: Any, db: Database, accounts: list[Account], broker: Broker
    ) -> None:
        from tests.integration.ingest.conftest import until_ready

        ingest: Ingest = await start_ingest(park_after_seconds=0.6)
        await until_ready(ingest)
        wamid = p.wamid()
        await post_status(ingest, accounts[0], wamid, "delivered")
        await ingest.until_events("status", "parked", 1)
        assert ingest.events("status", "deferred") >= 1
        channel = await broker.connection.channel()
        queue = await channel.declare_queue(topology.DEAD_QUEUE, passive=True)
        dead = await eventually(lambda: queue.get(fail=False), message="a dead letter")
        assert wamid.encode() in dead.body
        assert "unknown wamid" in dead.headers["x-relay-reason"]
        await dead.ack()
        await channel.close()


class TestMatchedByCallback:
    """A status whose wamid was never recorded (the sender died after Meta accepted, or its call
    timed out) finds its message by ``biz_opaque_callback_data``, the id the sender set."""

    async def test_a_queued_message_takes_the_wamid_and_the_status(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        account = accounts[0]
        doc = await outbound(db, account, status="Queued")
        await db.messages.update_one({"_id": doc["_id"]}, {"$set": {
            "whatsappMessageId": None, "version": 1, "claimedBy": "dead-sender",
            "claimedAt": datetime.now(UTC)}})
        wamid = p.wamid()
        await post_status(ingest, account, wamid, "sent", callback=doc["_id"])
        await until_handled(ingest, 1)
        final = await settled(db, doc["_id"])
        assert (final["status"], final["whatsappMessageId"]) == ("Sent", wamid)
        assert as_instant(final["sentAt"]) == at(TIMES["sent"])
        assert "claimedBy" not in final and "claimedAt" not in final
        assert ingest.events("status", "deferred") == 0

    async def test_another_accounts_message_is_not_touched(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        mine, theirs = accounts[0], accounts[1]
        doc = await outbound(db, theirs, status="Queued")
        await db.messages.update_one({"_id": doc["_id"]}, {"$set": {"whatsappMessageId": None}})
        await post_status(ingest, mine, p.wamid(), "sent", callback=doc["_id"])
        await ingest.until_events("status", "account_mismatch", 1)
        after = await db.messages.find_one({"_id": doc["_id"]})
        assert (after["status"], after["whatsappMessageId"]) == ("Queued", None)

    async def test_statuses_of_a_second_copy_change_nothing(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        account = accounts[0]
        doc = await outbound(db, account, status="Sent")
        await post_status(ingest, account, p.wamid(), "read", callback=doc["_id"])
        await ingest.until_events("status", "second_copy", 1)
        after = await db.messages.find_one({"_id": doc["_id"]})
        assert (after["status"], after["whatsappMessageId"], after["version"]) == (
            "Sent", doc["whatsappMessageId"], doc["version"])
