"""Each class of Cloud API error: retried with backoff, failed at once, or disconnecting."""

from __future__ import annotations

import time

import pytest

from gateway import present
from tests.conftest import eventually
from tests.integration.sender.support import Seeder

pytestmark = pytest.mark.integration


async def settled(seeder: Seeder, doc: dict, timeout: float = 15.0) -> dict:
    async def check() -> dict | None:
        found = await seeder.status(doc)
        return found if found["status"] != "Queued" else None
    return await eventually(check, timeout=timeout, message=f"{doc['_id']} settled")


class TestRetryable:
    """Throttling and outages are retried with exponential backoff, up to max_attempts."""

    async def test_throttled_twice_then_sent_with_three_attempts(self, seeder, sim, sender,
                                                                 settings):
        account = await seeder.account()
        await sim.fail(code=130429, times=2, httpStatus=429)
        [doc] = await seeder.messages(account)
        published = time.time()
        await seeder.publish(doc)
        final = await settled(seeder, doc)
        assert final["status"] == "Sent" and final["attempts"] == 3
        [record] = await sim.sends_of(doc["_id"])
        base = settings.retry_base_seconds
        assert record["at"] - published >= base + 2 * base  # 0.2 s, then 0.4 s

    async def test_gives_up_after_max_attempts_with_the_code(self, seeder, sim, sender, settings):
        account = await seeder.account()
        await sim.fail(code=131000, times=10, httpStatus=500)
        [doc] = await seeder.messages(account)
        await seeder.publish(doc)
        final = await settled(seeder, doc)
        assert final["status"] == "Failed"
        assert final["attempts"] == settings.max_attempts
        assert final["errorMessage"].startswith("(131000)")
        assert await sim.sends_of(doc["_id"]) == []

    async def test_a_timeout_is_retried(self, seeder, sim, senders, settings):
        await senders.start(settings.model_copy(update={"send_timeout_seconds": 0.5}))
        account = await seeder.account()
        await sim.fail(delaySeconds=2.0, times=1)
        [doc] = await seeder.messages(account)
        await seeder.publish(doc)
        final = await settled(seeder, doc)
        assert final["status"] == "Sent" and final["attempts"] == 2
        assert len(await sim.sends_of(doc["_id"])) >= 1


class TestFinal:
    """Final errors fail at once with a readable message that keeps the code."""

    async def test_undeliverable_fails_after_one_attempt(self, seeder, sim, sender, db):
        account = await seeder.account()
        await sim.fail(code=131026, times=1)
        [doc] = await seeder.messages(account)
        await seeder.publish(doc)
        final = await settled(seeder, doc)
        assert final["status"] == "Failed" and final["attempts"] == 1
        assert final["errorMessage"].startswith("(131026)")
        event = await eventually(lambda: db.events.find_one({"_id": f"{doc['_id']}:2"}))
        assert event["type"] == "message.failed"

    async def test_an_expired_token_disconnects_the_account(self, seeder, sim, sender, db):
        account = await seeder.account(token="bad-expired-token")
        first, second = await seeder.messages(account, 2)
        await seeder.publish(first)
        final = await settled(seeder, first)
        assert final["status"] == "Failed" and "190" in final["errorMessage"]
        stored = await db.accounts.find_one({"_id": account["_id"]})
        assert stored["status"] == "Disconnected"
        shown = present.account(stored)  # what GET /whatsapp-accounts/:id answers
        assert shown["status"] == "Disconnected"
        assert shown["lastError"].startswith("Access token refused: (190)"), shown
        await seeder.publish(second)
        later = await settled(seeder, second)
        assert later["errorMessage"] == "WhatsApp account is not connected"
        assert later["attempts"] == 0


class TestPairLimit:
    """131056 backs off only that recipient; the account's other recipients go on."""

    async def test_only_the_limited_recipient_waits(self, seeder, sim, sender, settings):
        account = await seeder.account()
        await sim.fail(code=131056, times=1, to="+15550000001")
        [limited] = await seeder.messages(account, to="+15550000001")
        await seeder.publish(limited)
        await eventually(lambda: _attempted(seeder, limited))
        [other] = await seeder.messages(account, to="+15550000002")
        [same] = await seeder.messages(account, to="+15550000001")
        started = time.time()
        await seeder.publish(other)
        await seeder.publish(same)
        assert (await settled(seeder, other))["status"] == "Sent"
        other_at = (await sim.sends_of(other["_id"]))[0]["at"]
        assert other_at - started < settings.retry_base_seconds
        assert (await settled(seeder, same))["status"] == "Sent"
        assert (await settled(seeder, limited))["status"] == "Sent"
        same_at = (await sim.sends_of(same["_id"]))[0]["at"]
        assert same_at > other_at


async def _attempted(seeder: Seeder, doc: dict) -> bool:
    return bool((await seeder.status(doc)).get("lastError"))
