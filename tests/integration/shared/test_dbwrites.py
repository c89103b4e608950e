"""Every client counts its write commands and the documents they write, by collection, and a
service's /metrics registry exports them."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from pymongo import UpdateOne

from shared.db import Database
from shared.dbwrites import COUNTER
from shared.observability import runtime_metrics

pytestmark = pytest.mark.integration


def exported(registry: CollectorRegistry, name: str, collection: str) -> float:
    return registry.get_sample_value(name, {"collection": collection}) or 0.0


async def test_batches_count_one_command_and_every_document(db: Database) -> None:
    registry = CollectorRegistry()
    runtime_metrics(registry)
    commands = exported(registry, "relay_db_write_commands_total", "events")
    documents = exported(registry, "relay_db_documents_written_total", "events")
    await db.events.insert_many([{"_id": f"e{n}"} for n in range(5)])
    await db.events.bulk_write([UpdateOne({"_id": f"e{n}"}, {"$set": {"x": 1}})
                                for n in range(3)])
    await db.events.find_one_and_update({"_id": "e0"}, {"$set": {"y": 1}})
    await db.events.find_one({"_id": "e0"})  # a read is not counted
    assert exported(registry, "relay_db_write_commands_total", "events") - commands == 3
    assert exported(registry, "relay_db_documents_written_total", "events") - documents == 9
    assert COUNTER.totals()[1]["events"] >= 9
