"""The MongoDB adapter of :class:`shared.messages.MessageStore`, with group commit.

Claims, moves and inserts that arrive while a write of their kind is in flight share the next
one: claims are one ``update_many`` on ``_id $in`` plus one read of the claimed documents (the
claim returns the message, so a send reads nothing else); moves are one ``bulk_write`` of
version-checked updates; inserts one ``insert_many``. Each change stays atomic per message, which
is all the lifecycle needs, on a replica set and on the embedded server alike.

A claim is a number, ``claimUntil`` (epoch ms; 0 when free): "free or expired" is one range
on a number, with no ``$or`` and no date in the filter — both of which the embedded server
evaluates by scanning the collection (docs/DEVIATIONS.md). Messages stored before ``claimUntil``
existed are claimed the old way, on ``claimedBy``/``claimedAt``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from shared.batching import Batcher
from shared.db import Database
from shared.messages import (
    CLAIM_FIELDS,
    Message,
    VersionConflict,
    applied,
    as_datetime,
    epoch_ms,
    searchable,
    transition_change,
)
from shared.models import MessageStatus
from shared.search import FIELD as SEARCH_FIELD
from shared.search import search_text

QUEUED = MessageStatus.QUEUED.value
RENAME_BATCH = 500
Move = tuple[Mapping[str, Any], Mapping[str, Any], str]  # filter, update, write id


class MongoMessageStore:
    """:class:`shared.messages.MessageStore` over the ``messages`` collection."""

    def __init__(self, db: Database, *, max_batch: int = 500) -> None:
        self._messages = db.messages
        self._claims: Batcher[tuple[str, float, float], str, Message | None] = Batcher(
            self._claim_batch, max_batch=max_batch)
        self._moves: Batcher[str, Move, bool] = Batcher(self._move_batch, max_batch=max_batch)
        self._inserts: Batcher[str, dict[str, Any], None] = Batcher(
            self._insert_batch, max_batch=max_batch)
        self._gets: Batcher[str, str, Message | None] = Batcher(self._get_batch,
                                                               max_batch=max_batch)

    async def add(self, message: Message, *, contact_name: str | None = None) -> None:
        await self._inserts.submit("insert", searchable(message, contact_name).to_doc())

    async def rename_contact(self, user_id: str, contact_id: str, name: str | None) -> int:
        # Equalities as ``$eq``: an indexed range on the embedded server (gateway/keyset.py).
        where = {"userId": {"$eq": user_id}, "contactId": {"$eq": contact_id}}
        ops: list[UpdateOne] = []
        written = 0
        async for doc in self._messages.find(where, {"content": 1, "to": 1, "from": 1}):
            phone = doc.get("to") or doc.get("from")
            ops.append(UpdateOne({"_id": doc["_id"]}, {"$set": {
                SEARCH_FIELD: search_text(doc.get("content"), name, phone)}}))
            if len(ops) == RENAME_BATCH:
                written += (await self._messages.bulk_write(ops, ordered=False)).matched_count
                ops = []
        if ops:
            written += (await self._messages.bulk_write(ops, ordered=False)).matched_count
        return written

    async def get(self, message_id: str) -> Message | None:
        return await self._gets.submit("get", message_id)

    async def claim(
        self, message_id: str, *, owner: str, now: float, lease_seconds: float
    ) -> Message | None:
        return await self._claims.submit((owner, now, lease_seconds), message_id)

    async def move(
        self, message: Message, target: MessageStatus, *, fields: Mapping[str, Any] | None = None,
        retry: bool = False, drop_claim: bool = False,
    ) -> Message | None:
        changes = transition_change(message, target, fields=fields, retry=retry)
        if changes is None:
            return None
        write_id = uuid.uuid4().hex
        update: dict[str, Any] = {"$set": {**changes, "writeId": write_id}}
        unset = CLAIM_FIELDS if drop_claim else ()
        if unset:
            update["$unset"] = dict.fromkeys(unset, "")
        done = await self._moves.submit(
            "move", ({"_id": message.id, "version": message.version}, update, write_id))
        if not done:
            raise VersionConflict(message.id)
        return applied(message, {**changes, "writeId": write_id}, unset)

    async def release(
        self, message: Message, *, owner: str, reason: str, at: datetime,
        unit_day: str | None = None,
    ) -> None:
        held = {"unitDay": unit_day} if unit_day else {}
        await self._messages.update_one(
            {"_id": message.id, "claimedBy": owner, "status": QUEUED},
            {"$set": {"lastError": reason, "attemptedAt": at, "attemptedMs": epoch_ms(at),
                      "updatedAt": at, "claimUntil": 0, **held},
             "$unset": {"claimedBy": "", "claimedAt": "", "claimToken": ""}},
        )

    async def annotate(
        self, message_id: str, fields: Mapping[str, Any], *, drop_claim: bool = False
    ) -> Message | None:
        update: dict[str, Any] = {"$set": dict(fields)}
        if drop_claim:
            update["$unset"] = dict.fromkeys(CLAIM_FIELDS, "")
        before = await self._messages.find_one_and_update(
            {"_id": message_id}, update, return_document=ReturnDocument.BEFORE)
        return Message.from_doc(before) if before is not None else None

    async def stamp(self, message: Message, field: str, when: datetime) -> Message:
        write_id = uuid.uuid4().hex
        done = await self._moves.submit("move", (
            {"_id": message.id, "version": message.version},
            {"$set": {field: when, "writeId": write_id}}, write_id))
        if not done:
            raise VersionConflict(message.id)
        return applied(message, {field: when, "writeId": write_id})

    async def fill(self, message_id: str, field: str, when: datetime) -> bool:
        # ``$type: "null"``, not ``{field: None}``: the embedded server's ``None`` matches only a
        # missing field, and every message stores its timestamps, null until set
        # (docs/DEVIATIONS.md). No ``$or``, so no scan.
        result = await self._messages.update_one(
            {"_id": message_id, field: {"$type": "null"}}, {"$set": {field: when}})
        return result.modified_count == 1

    async def mark(self, message_ids: list[str], fields: Mapping[str, Any]) -> None:
        if message_ids:
            await self._messages.update_many(
                {"_id": {"$in": list(message_ids)}}, {"$set": dict(fields)})

    async def by_wamid(self, wamids: list[str]) -> dict[str, Message]:
        # One indexed point read each, concurrently: ``$in`` on a field other than ``_id``
        # scans the whole collection on the embedded server (docs/DEVIATIONS.md).
        docs = await asyncio.gather(*(
            self._messages.find_one({"whatsappMessageId": wamid}) for wamid in set(wamids)))
        return {doc["whatsappMessageId"]: Message.from_doc(doc) for doc in docs if doc}

    async def recent_attempts(self, account_id: str, *, now: float, window: float) -> list[float]:
        since_ms = int((now - window) * 1000)
        times: list[float] = []
        query = {"whatsappAccountId": account_id, "attemptedMs": {"$gt": since_ms}}
        async for doc in self._messages.find(query, {"attemptedMs": 1, "attempts": 1}):
            at = int(doc["attemptedMs"]) / 1000 + 0.001
            times += [at] * max(1, int(doc.get("attempts") or 1))
        live = {"whatsappAccountId": account_id, "status": QUEUED,
                "claimUntil": {"$gt": int(now * 1000)}}
        async for _ in self._messages.find(live, {"_id": 1}):
            times.append(now)
        return times

    async def _claim_batch(
        self, key: tuple[str, float, float], ids: list[str]
    ) -> list[Message | BaseException | None]:
        owner, now, lease = key
        token = uuid.uuid4().hex
        now_ms = int(now * 1000)
        wanted = list(dict.fromkeys(ids))
        claim = {"claimedBy": owner, "claimedAt": as_datetime(now), "claimToken": token,
                 "claimUntil": now_ms + int(lease * 1000)}
        await self._messages.update_many(
            {"_id": {"$in": wanted}, "status": QUEUED, "claimUntil": {"$lt": now_ms}},
            {"$set": claim, "$inc": {"attempts": 1}},
        )
        found = {doc["_id"]: doc async for doc in self._messages.find({"_id": {"$in": wanted}})}
        for message_id, doc in found.items():
            if doc.get("status") == QUEUED and "claimUntil" not in doc:
                legacy = await self._claim_legacy(message_id, claim, now, lease)
                found[message_id] = legacy or doc
        given: set[str] = set()
        results: list[Message | BaseException | None] = []
        for message_id in ids:  # a message asked for twice in one batch is claimed once
            got = found.get(message_id)
            mine = got is not None and got.get("claimToken") == token and message_id not in given
            given.add(message_id)
            results.append(Message.from_doc(got) if mine and got is not None else None)
        return results

    async def _claim_legacy(
        self, message_id: str, claim: dict[str, Any], now: float, lease: float
    ) -> dict[str, Any] | None:
        """The claim of a message stored without ``claimUntil`` (by an earlier version).

        ``$and`` around the ``$or``: nx-27017 lets a ``$or`` beside other fields match documents
        the other fields exclude (docs/DEVIATIONS.md).
        """
        stale = as_datetime(now) - timedelta(seconds=lease)
        return await self._messages.find_one_and_update(
            {"$and": [{"_id": message_id}, {"status": QUEUED}, {"claimUntil": {"$exists": False}},
                      {"$or": [{"claimedBy": None}, {"claimedAt": {"$lt": stale}}]}]},
            {"$set": claim, "$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER,
        )

    async def _move_batch(self, _: str, moves: list[Move]) -> list[bool | BaseException]:
        ops = [UpdateOne(dict(where), dict(update)) for where, update, _ in moves]
        try:
            result = await self._messages.bulk_write(ops, ordered=False)
            matched = result.matched_count
        except BulkWriteError as exc:
            matched = int(exc.details.get("nMatched", 0))
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise
        if matched == len(moves):
            return [True] * len(moves)
        # Some lost a race: which ones, the write ids tell.
        ids = [where["_id"] for where, _, _ in moves]
        cursor = self._messages.find({"_id": {"$in": ids}}, {"writeId": 1})
        written = {doc.get("writeId") async for doc in cursor}
        return [write_id in written for _, _, write_id in moves]

    async def _get_batch(self, _: str, ids: list[str]) -> list[Message | BaseException | None]:
        cursor = self._messages.find({"_id": {"$in": list(set(ids))}})
        found = {doc["_id"]: Message.from_doc(doc) async for doc in cursor}
        return [found.get(message_id) for message_id in ids]

    async def _insert_batch(
        self, _: str, docs: list[dict[str, Any]]
    ) -> list[BaseException | None]:
        results: list[BaseException | None] = [None] * len(docs)
        try:
            await self._messages.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                kind = DuplicateKeyError if error.get("code") == 11000 else WriteError
                results[error["index"]] = kind(str(error.get("errmsg")), error.get("code"))
        return results
