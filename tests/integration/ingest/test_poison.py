"""Deliveries that are no webhook at all are dead-lettered; the consumer keeps going."""

from __future__ import annotations

from shared import topology
from shared.broker import Broker
from shared.db import Database
from tests import ingest_payloads as p
from tests.conftest import eventually
from tests.integration.ingest.conftest import Account, Ingest


class TestPoison:
    """Poison goes to relay.dead, counted; the next genuine payload is still applied."""

    async def test_poison_is_dead_lettered_and_the_worker_survives(
        self, ingest: Ingest, broker: Broker, db: Database, accounts: list[Account]
    ) -> None:
        for body in (b'{"entry": "not a list"}', b"\x00not json at all", b'[1, 2, 3]'):
            await broker.publish(topology.REDELIVER, topology.INBOX_KEY, body)
        # Only the JSON object reaches the worker; the adapter refuses the other two itself.
        await ingest.until_events("payload", "poison", 1)

        async def dead_letters() -> bool:
            return await broker.queue_depth(topology.DEAD_QUEUE) == 3

        await eventually(dead_letters, message="three dead letters")
        good = p.webhook(p.value(accounts[0].phone_number_id, messages=[p.text("still here")]))
        assert await ingest.post(good) == 200
        await ingest.until_events("message", "applied", 1)
        assert await db.messages.count_documents({"content": "still here"}) == 1
