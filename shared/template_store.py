"""The MongoDB adapter of :class:`shared.templates.TemplateStore`: the ``templates`` collection.

One document per account, name and language, ``_id`` from :func:`shared.templates.template_id`
(a string, as every id). Written in forms correct on MongoDB and on the embedded server
(docs/DEVIATIONS.md): upserts set top-level fields only, equalities are ``$eq`` (a bare value is
an array-containment test there that no index serves), counts are an aggregate ``$count``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from shared.db import Database
from shared.models import utcnow
from shared.templates import SyncCounts, Template, TemplateStatus, plan_sync, template_id

COLLECTION = "templates"


def to_doc(template: Template) -> dict[str, Any]:
    """The stored document of ``template`` (camelCase, ``_id`` included)."""
    return template.model_dump(by_alias=True, mode="python")


class MongoTemplateStore:
    """:class:`shared.templates.TemplateStore` over ``templates``."""

    def __init__(self, db: Database) -> None:
        self._templates = db[COLLECTION]

    async def find(self, account_id: str, name: str, language: str) -> Template | None:
        doc = await self._templates.find_one({"_id": template_id(account_id, name, language)})
        return Template.model_validate(doc) if doc is not None else None

    async def page(self, account_id: str, *, page: int, limit: int) -> tuple[list[Template], int]:
        query = {"whatsappAccountId": {"$eq": account_id}}
        cursor = self._templates.find(query, sort=[("name", 1), ("language", 1)],
                                      skip=(page - 1) * limit, limit=limit)
        docs = await cursor.to_list()
        rows = await (await self._templates.aggregate(
            [{"$match": query}, {"$count": "n"}])).to_list()
        total = int(rows[0]["n"]) if rows else 0
        return [Template.model_validate(doc) for doc in docs], total

    async def sync(self, account_id: str, fetched: Sequence[Template]) -> SyncCounts:
        cursor = self._templates.find({"whatsappAccountId": {"$eq": account_id}})
        stored = [Template.model_validate(doc) async for doc in cursor]
        plan = plan_sync(stored, fetched)
        writes = [_upsert(template) for template in plan.added + plan.updated]
        if writes:
            await self._templates.bulk_write(writes, ordered=False)
        if plan.removed:
            await self._templates.delete_many({"_id": {"$in": plan.removed}})
        return plan.counts

    async def add(self, template: Template) -> bool:
        try:
            await self._templates.insert_one(to_doc(template))
        except DuplicateKeyError:
            return False
        return True

    async def discard(self, template_id: str) -> None:
        await self._templates.delete_one({"_id": template_id})

    async def set_meta_id(self, template_id: str, meta_id: str) -> Template | None:
        doc = await self._templates.find_one_and_update(
            {"_id": template_id}, {"$set": {"metaId": meta_id, "updatedAt": utcnow()}},
            return_document=ReturnDocument.AFTER)
        return Template.model_validate(doc) if doc is not None else None

    async def set_status(
        self, meta_id: str, status: TemplateStatus, reason: str | None = None
    ) -> int:
        return await self._set_status({"metaId": {"$eq": meta_id}}, status, reason)

    async def set_status_by_name(
        self, waba_id: str, name: str, language: str, status: TemplateStatus,
        reason: str | None = None,
    ) -> int:
        where = {"wabaId": {"$eq": waba_id}, "name": {"$eq": name},
                 "language": {"$eq": language}}
        return await self._set_status(where, status, reason)

    async def _set_status(
        self, where: dict[str, Any], status: TemplateStatus, reason: str | None
    ) -> int:
        result = await self._templates.update_many(where, {"$set": {
            "status": status.value, "rejectedReason": reason, "updatedAt": utcnow()}})
        return int(result.matched_count)


def _upsert(template: Template) -> UpdateOne:
    fields = {k: v for k, v in to_doc(template).items() if k != "_id"}
    return UpdateOne({"_id": template.id}, {"$set": fields}, upsert=True)
