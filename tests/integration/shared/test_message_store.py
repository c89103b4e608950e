"""The MongoDB message store on the embedded server: claims, moves and inserts in batches."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.db import Database, ensure_indexes
from shared.message_store import MongoMessageStore
from shared.messages import Message, VersionConflict, new_outbound, searchable
from shared.models import MessageStatus, MessageType, utcnow

pytestmark = pytest.mark.integration

LEASE = 60.0


def outbound(n: int = 0) -> Message:
    return new_outbound(user_id="u1", account_id="a1", contact_id=f"c{n}", to="+15550000000",
                        type=MessageType.TEXT, content=f"hello {n}")


@pytest.fixture
async def store(db: Database) -> MongoMessageStore:
    await ensure_indexes(db)
    return MongoMessageStore(db)


async def added(store: MongoMessageStore, count: int) -> list[Message]:
    messages = [outbound(n) for n in range(count)]
    await asyncio.gather(*(store.add(m) for m in messages))
    return messages


class TestAdd:
    """Concurrent adds share inserts; a duplicate id fails alone."""

    async def test_round_trip(self, store: MongoMessageStore) -> None:
        [message] = await added(store, 1)
        stored = await store.get(message.id)
        assert stored is not None
        # The store adds the words search finds it by (shared/search.py), nothing else.
        assert stored.to_doc() == searchable(message, None).to_doc()
        assert stored.search_text == "hello 0 15550000000"

    async def test_duplicate_fails_alone(self, store: MongoMessageStore) -> None:
        [first] = await added(store, 1)
        second = outbound(1)
        results = await asyncio.gather(store.add(first), store.add(second),
                                       return_exceptions=True)
        assert isinstance(results[0], Exception) and results[1] is None
        assert await store.get(second.id) is not None


class TestClaim:
    """A claim takes a Queued message once, counts the attempt, and returns the message."""

    async def test_racing_claims_win_once_each(self, store: MongoMessageStore) -> None:
        messages = await added(store, 40)
        owners = [f"sender-{n}" for n in range(5)]
        now = time.time()
        claims = await asyncio.gather(*(
            store.claim(m.id, owner=o, now=now, lease_seconds=LEASE)
            for m in messages for o in owners))
        won = [c for c in claims if c is not None]
        assert sorted(c.id for c in won) == sorted(m.id for m in messages)
        assert all(c.attempts == 1 and c.claimed_by in owners for c in won)

    async def test_same_message_twice_in_one_batch(self, store: MongoMessageStore) -> None:
        [message] = await added(store, 1)
        now = time.time()
        claims = await asyncio.gather(*(
            store.claim(message.id, owner="s", now=now, lease_seconds=LEASE) for _ in range(3)))
        assert sum(c is not None for c in claims) == 1

    async def test_live_claim_holds_and_stale_claim_is_taken(
        self, store: MongoMessageStore
    ) -> None:
        [message] = await added(store, 1)
        now = time.time()
        assert await store.claim(message.id, owner="a", now=now, lease_seconds=LEASE)
        assert await store.claim(message.id, owner="b", now=now + 1, lease_seconds=LEASE) is None
        taken = await store.claim(message.id, owner="b", now=now + LEASE + 1, lease_seconds=LEASE)
        assert taken is not None and taken.claimed_by == "b" and taken.attempts == 2

    async def test_claim_touches_no_other_message(
        self, store: MongoMessageStore, db: Database
    ) -> None:
        one, other = await added(store, 2)
        assert await store.claim(one.id, owner="a", now=time.time(), lease_seconds=LEASE)
        untouched = await db.messages.find_one({"_id": other.id})
        assert untouched is not None and untouched["attempts"] == 0
        assert untouched["claimUntil"] == 0

    async def test_not_queued_is_not_claimed(self, store: MongoMessageStore) -> None:
        [message] = await added(store, 1)
        await store.move(message, MessageStatus.CANCELLED)
        assert await store.claim(message.id, owner="a", now=time.time(),
                                 lease_seconds=LEASE) is None

    async def test_message_stored_without_claim_until(
        self, store: MongoMessageStore, db: Database
    ) -> None:
        """Stored by an earlier version: claimed on claimedBy/claimedAt as before."""
        live, stale, free = (outbound(n).to_doc() for n in range(3))
        now = utcnow()
        for doc in (live, stale, free):
            del doc["claimUntil"]
        live.update(claimedBy="x", claimedAt=now)
        stale.update(claimedBy="x", claimedAt=now.replace(year=now.year - 1))
        await db.messages.insert_many([live, stale, free])
        claims = [await store.claim(doc["_id"], owner="s", now=time.time(), lease_seconds=LEASE)
                  for doc in (live, stale, free)]
        assert [c is not None for c in claims] == [False, True, True]


class TestMove:
    """Moves are version-checked; the loser of a race gets VersionConflict."""

    async def test_moves_in_one_batch(self, store: MongoMessageStore) -> None:
        messages = await added(store, 30)
        moved = await asyncio.gather(*(
            store.move(m, MessageStatus.SENT, fields={"whatsappMessageId": f"wamid.{m.id}"})
            for m in messages))
        for message in moved:
            assert message is not None and message.status == MessageStatus.SENT
            stored = await store.get(message.id)
            assert stored is not None and stored.version == 2 and stored.event_pending
            assert stored.whatsapp_message_id == f"wamid.{message.id}"

    async def test_conflict_in_a_batch_fails_alone(self, store: MongoMessageStore) -> None:
        one, two = await added(store, 2)
        results = await asyncio.gather(
            store.move(one, MessageStatus.SENT), store.move(one, MessageStatus.FAILED),
            store.move(two, MessageStatus.SENT), return_exceptions=True)
        assert sum(isinstance(r, VersionConflict) for r in results[:2]) == 1
        assert isinstance(results[2], Message)

    async def test_forbidden_move_writes_nothing(self, store: MongoMessageStore) -> None:
        [message] = await added(store, 1)
        sent = await store.move(message, MessageStatus.SENT)
        assert sent is not None
        assert await store.move(sent, MessageStatus.QUEUED) is None
        stored = await store.get(message.id)
        assert stored is not None and stored.status == MessageStatus.SENT

    async def test_drop_claim(self, store: MongoMessageStore, db: Database) -> None:
        [message] = await added(store, 1)
        claimed = await store.claim(message.id, owner="s", now=time.time(), lease_seconds=LEASE)
        assert claimed is not None
        await store.move(claimed, MessageStatus.SENT, drop_claim=True)
        doc = await db.messages.find_one({"_id": message.id})
        assert doc is not None and "claimedBy" not in doc and "claimUntil" not in doc


class TestTimestamps:
    """A late status's own time (``stamp``) and the times a later status implies (``fill``)."""

    async def test_stamp_on_the_version_read(self, store: MongoMessageStore) -> None:
        [message] = await added(store, 1)
        sent = await store.move(message, MessageStatus.SENT)
        assert sent is not None
        when = utcnow().replace(microsecond=0)
        stamped = await store.stamp(sent, "sentAt", when)
        stored = await store.get(message.id)
        assert stored is not None and stored.sent_at == when == stamped.sent_at
        assert stored.version == sent.version and stored.status == MessageStatus.SENT

    async def test_stamp_of_a_changed_message_conflicts(self, store: MongoMessageStore) -> None:
        [message] = await added(store, 1)
        await store.move(message, MessageStatus.SENT)
        with pytest.raises(VersionConflict):
            await store.stamp(message, "sentAt", utcnow())  # read at version 1, now 2
        stored = await store.get(message.id)
        assert stored is not None and stored.sent_at is None

    async def test_fill_only_an_empty_field(self, store: MongoMessageStore) -> None:
        one, two = await added(store, 2)
        first, later = utcnow().replace(microsecond=0), utcnow().replace(microsecond=0)
        assert await store.fill(one.id, "deliveredAt", first)
        assert not await store.fill(one.id, "deliveredAt", later.replace(year=later.year + 1))
        stored, other = await store.get(one.id), await store.get(two.id)
        assert stored is not None and stored.delivered_at == first
        assert other is not None and other.delivered_at is None  # no other message touched

    async def test_mark_sets_bookkeeping_on_several(
        self, store: MongoMessageStore, db: Database
    ) -> None:
        one, two, three = await added(store, 3)
        await store.mark([one.id, two.id], {"contactCounted": True})
        docs = {d["_id"]: d async for d in db.messages.find({})}
        # truthy, not ``is True``: the embedded server reads a stored boolean back as 1
        assert docs[one.id]["contactCounted"] and docs[two.id]["contactCounted"]
        assert "contactCounted" not in docs[three.id]
        assert docs[one.id]["version"] == 1  # never a status change


class TestByWamid:
    async def test_found_and_absent(self, store: MongoMessageStore) -> None:
        one, _two = await added(store, 2)
        await store.move(one, MessageStatus.SENT, fields={"whatsappMessageId": "wamid.one"})
        found = await store.by_wamid(["wamid.one", "wamid.none", "wamid.one"])
        assert list(found) == ["wamid.one"] and found["wamid.one"].id == one.id
