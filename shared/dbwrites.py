"""Database writes counted per collection, as every service's client sends them.

A pymongo command listener (registered by :func:`shared.db.connect`) counts each write command
(``insert``, ``update``, ``delete``, ``findAndModify``) once, and the documents it writes (the
statements in it: the documents of an ``insert``, the updates of an ``update`` or a
``bulk_write``). :class:`WriteCollector` exports both on a service's registry, so "writes per
message" is one subtraction of two scrapes (the benchmark's end-to-end figure does that).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from pymongo import monitoring

STATEMENTS = {"insert": "documents", "update": "updates", "delete": "deletes"}


class WriteCounter(monitoring.CommandListener):
    """Counts write commands and the documents they write, by collection (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.commands: dict[str, int] = {}
        self.documents: dict[str, int] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name not in STATEMENTS and name != "findAndModify":
            return
        collection = str(event.command.get(name, ""))
        statements = event.command.get(STATEMENTS.get(name, ""), ())
        written = len(statements) if name in STATEMENTS else 1
        with self._lock:
            self.commands[collection] = self.commands.get(collection, 0) + 1
            self.documents[collection] = self.documents.get(collection, 0) + written

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def totals(self) -> tuple[dict[str, int], dict[str, int]]:
        with self._lock:
            return dict(self.commands), dict(self.documents)


COUNTER = WriteCounter()


class WriteCollector(Collector):
    """``relay_db_write_commands_total`` and ``relay_db_documents_written_total`` of this
    process, by collection."""

    def __init__(self, counter: WriteCounter = COUNTER) -> None:
        self._counter = counter

    def collect(self) -> Iterator[CounterMetricFamily]:
        commands, documents = self._counter.totals()
        sent = CounterMetricFamily(
            "relay_db_write_commands", "Write commands sent to the database (a batch is one).",
            labels=["collection"])
        written = CounterMetricFamily(
            "relay_db_documents_written", "Documents written (statements in write commands).",
            labels=["collection"])
        for collection, count in sorted(commands.items()):
            sent.add_metric([collection], count)
            written.add_metric([collection], documents.get(collection, 0))
        yield sent
        yield written
