"""Natural batching of database writes on the accept path.

A request that finds no flush running for its key is written at once, alone; requests that
arrive while a flush runs wait for the next one, which writes them together. Under load, many
accepts share one round trip; when idle, nothing waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.db import Database

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")

Flush = Callable[[K, list[T]], Awaitable[list[R | BaseException]]]


class Batcher(Generic[K, T, R]):
    """Groups :meth:`submit` calls per key; ``flush(key, items)`` answers each item in order
    (a result, or an exception for that item alone)."""

    def __init__(self, flush: Flush[K, T, R], *, max_batch: int = 500) -> None:
        self._flush = flush
        self._max = max_batch
        self._pending: dict[K, list[tuple[T, asyncio.Future[R]]]] = {}
        self._running: set[K] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, key: K, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append((item, future))
        if key not in self._running:
            self._running.add(key)
            task = asyncio.create_task(self._drain(key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self, key: K) -> None:
        try:
            while self._pending.get(key):
                waiting = self._pending.pop(key)
                batch, rest = waiting[: self._max], waiting[self._max:]
                if rest:
                    self._pending[key] = rest
                await self._run(key, batch)
        finally:
            self._running.discard(key)

    async def _run(self, key: K, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._flush(key, [item for item, _ in batch])
        except BaseException as exc:  # the whole batch failed: each waiter gets the error
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


def usage_batcher(db: Database) -> Batcher[tuple[str, int], None, bool]:
    """Takes units of a daily limit, many at once: ``submit((usage_id, limit), None)`` → granted.

    One ``$inc`` of the batch size; the count after it says how many fit under the limit, in
    arrival order, and the surplus is given back. Every increment is atomic, so the grants of
    all batches in all processes together never exceed the limit.
    """

    async def flush(key: tuple[str, int], items: list[None]) -> list[bool | BaseException]:
        usage, limit = key
        wanted = len(items)
        doc = await _increment(db, usage, wanted)
        before = int(doc["count"]) - wanted
        granted = max(0, min(wanted, limit - before))
        if granted < wanted:
            await db.daily_usage.update_one({"_id": usage}, {"$inc": {"count": granted - wanted}})
        return [index < granted for index in range(wanted)]

    return Batcher(flush)


async def _increment(db: Database, usage: str, amount: int) -> dict[str, Any]:
    for attempt in range(2):
        try:
            doc = await db.daily_usage.find_one_and_update(
                {"_id": usage}, {"$inc": {"count": amount}}, upsert=True,
                return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:  # two first upserts of the day raced: the other one won
            if attempt:
                raise
            continue
        if doc is not None:
            return doc
    raise RuntimeError("daily usage counter could not be incremented")


def insert_batcher(db: Database) -> Batcher[str, dict[str, Any], None]:
    """``insert_many`` of messages; a document refused by the server fails alone."""

    async def flush(_: str, docs: list[dict[str, Any]]) -> list[BaseException | None]:
        results: list[BaseException | None] = [None] * len(docs)
        try:
            await db.messages.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                results[error["index"]] = DuplicateKeyError(str(error.get("errmsg")))
        return results

    return Batcher(flush)


def contact_batcher(db: Database) -> Batcher[str, tuple[str, Any], None]:
    """Counts sends on contacts: one ``bulk_write`` per batch (``totalMessages``, last time)."""

    async def flush(_: str, items: list[tuple[str, Any]]) -> list[BaseException | None]:
        counts: dict[str, tuple[int, Any]] = {}
        for contact_id, at in items:
            count, last = counts.get(contact_id, (0, at))
            counts[contact_id] = (count + 1, max(last, at))
        await db.contacts.bulk_write([
            UpdateOne({"_id": contact_id}, {"$inc": {"totalMessages": count},
                                            "$set": {"lastMessageAt": last, "updatedAt": last}})
            for contact_id, (count, last) in counts.items()
        ], ordered=False)
        return [None] * len(items)

    return Batcher(flush)
