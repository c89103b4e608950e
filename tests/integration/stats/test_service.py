"""stats.main.bootstrap: the stats service wired in-process, on the real RabbitMQ and database;
the projection store can be replaced (the in-memory fake) or left to the MongoDB adapter."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from shared import topology
from shared.broker import Broker
from shared.db import Database
from shared.models import MessageEvent
from shared.settings import Settings
from stats.main import StatsService, bootstrap
from stats.store import ACCOUNTS
from tests.conftest import eventually
from tests.stats_support import assert_counters_match, make_histories, shuffled_with_duplicates
from tests.unit.stats.fakes import FakeProjectionStore

pytestmark = pytest.mark.integration


async def publish(broker: Broker, events: list[MessageEvent]) -> None:
    await asyncio.gather(*(
        broker.publish(topology.EVENTS, e.type, e, message_id=e.event_id) for e in events
    ))


def matches(accounts: dict[str, dict[str, Any]], histories: list[Any]) -> bool:
    try:
        assert_counters_match(accounts, [h.doc for h in histories], histories)
    except (AssertionError, KeyError):
        return False
    return True


async def started(service: StatsService) -> StatsService:
    await service.start()
    assert await service.ready() == {"mongodb": True, "rabbitmq": True}
    return service


class TestBootstrap:
    """Events published to relay.events reach the projection of a bootstrapped service."""

    async def test_a_given_store_receives_every_event_once(
        self, settings: Settings, db: Database, broker: Broker
    ) -> None:
        rng = random.Random(41)
        histories = make_histories(rng, messages=30)
        store = FakeProjectionStore()
        service = await started(bootstrap(settings, db=db, repo=store))
        try:
            await publish(broker, shuffled_with_duplicates(rng, histories))

            async def projected() -> bool:
                return matches(store.accounts, histories)

            await eventually(projected, timeout=20, message="counters of the fake store")
            applied = service.registry.get_sample_value(
                "relay_projection_events_total", {"outcome": "applied"})
            assert applied == sum(len(h.events) for h in histories)
        finally:
            await service.stop()

    async def test_the_default_wiring_projects_into_the_database(
        self, settings: Settings, db: Database, broker: Broker
    ) -> None:
        histories = make_histories(random.Random(42), messages=20)
        await db.messages.insert_many([h.doc for h in histories])
        service = await started(bootstrap(settings))
        try:
            await publish(broker, [e for h in histories for e in h.events])

            async def projected() -> bool:
                return matches({d["_id"]: d async for d in db[ACCOUNTS].find({})}, histories)

            await eventually(projected, timeout=20, message="counters in the database")
        finally:
            await service.stop()
