"""Forged and oversized webhooks against the real broker: refused, nothing on the inbox, nothing
in the database; a genuine one right after is taken."""

from __future__ import annotations

from typing import Any

from ingest.webhook import MAX_BODY_BYTES
from shared import topology
from shared.broker import Broker
from shared.db import Database
from shared.secrets import signature
from tests import ingest_payloads as p
from tests.conftest import eventually
from tests.integration.ingest.conftest import Account, Ingest, until_ready


async def depth(broker: Broker) -> int | None:
    return await broker.queue_depth(topology.INBOX_QUEUE)


class TestForgery:
    """Wrong secret, missing header, body altered after signing, oversized → 401/413."""

    async def test_nothing_forged_reaches_the_inbox(
        self, start_ingest: Any, broker: Broker, accounts: list[Account]
    ) -> None:
        ingest: Ingest = await start_ingest(with_worker=False)
        await until_ready(ingest)
        payload = p.webhook(p.value(accounts[0].phone_number_id, messages=[p.text("forged")]))
        raw, headers = p.signed(payload, ingest.settings.whatsapp_app_secret)
        big = p.webhook(p.value(accounts[0].phone_number_id,
                                messages=[p.text("x" * (MAX_BODY_BYTES + 10))]))
        attempts = [
            (payload, {"X-Hub-Signature-256": signature("not-the-secret", raw)}, 401),
            (payload, {"Content-Type": "application/json"}, 401),
            (raw.replace(b"forged", b"FORGED"), headers, 401),
            (big, None, 413),
        ]
        for body, sent_headers, expected in attempts:
            assert await ingest.post(body, headers=sent_headers) == expected
        assert await depth(broker) == 0
        assert await ingest.post(payload) == 200
        assert await eventually(lambda: self._one(broker)) == 1

    async def _one(self, broker: Broker) -> int | None:
        found = await depth(broker)
        return found if found == 1 else None

    async def test_nothing_forged_reaches_the_database(
        self, ingest: Ingest, db: Database, accounts: list[Account]
    ) -> None:
        payload = p.webhook(p.value(accounts[0].phone_number_id, messages=[p.text("forged")]))
        raw, _ = p.signed(payload, ingest.settings.whatsapp_app_secret)
        assert await ingest.post(payload, secret="wrong") == 401
        assert await ingest.post(raw, headers={}) == 401
        genuine = p.webhook(p.value(accounts[0].phone_number_id, messages=[p.text("real")]))
        assert await ingest.post(genuine) == 200
        await ingest.until_events("message", "applied", 1)
        docs = await db.messages.find({}).to_list()
        assert [d["content"] for d in docs] == ["real"]
        assert ingest.metric("relay_webhooks_total", outcome="bad_signature") == 2
