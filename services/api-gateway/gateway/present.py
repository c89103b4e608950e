"""API shapes of stored documents (``id`` for ``_id``, internal fields left out) and pages."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

from pydantic import Field
from pymongo.asynchronous.collection import AsyncCollection

from gateway.parsing import Query
from shared.message_parts import enforces_window
from shared.models import as_utc

MESSAGE_FIELDS = (
    "userId", "whatsappAccountId", "contactId", "campaignId", "direction", "type", "content",
    "mediaUrl", "mediaId", "template", "interactive", "location", "reaction", "raw",
    "whatsappMessageId", "status", "errorMessage", "scheduledFor",
    "sentAt", "deliveredAt", "readAt", "isFromBot", "createdAt", "updatedAt", "to", "from",
    "attempts",
)
ACCOUNT_FIELDS = (
    "userId", "name", "phoneNumberId", "displayPhoneNumber", "dailyLimit", "ratePerMinute",
    "status", "lastError", "createdAt", "updatedAt",
)
CONTACT_FIELDS = (
    "userId", "whatsappAccountId", "phone", "name", "unreadCount", "totalMessages",
    "lastMessageAt", "lastInboundAt", "windowExpiresAt", "createdAt", "updatedAt",
)
TIMESTAMPS = frozenset({
    "scheduledFor", "sentAt", "deliveredAt", "readAt", "createdAt", "updatedAt", "lastMessageAt",
    "lastInboundAt", "windowExpiresAt",
})


def _shape(doc: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    shaped = {"id": doc["_id"]}
    for name in fields:
        if name in doc:
            value = doc[name]
            shaped[name] = as_utc(value) if name in TIMESTAMPS else value
    return shaped


def message(doc: dict[str, Any]) -> dict[str, Any]:
    """A message as the API shows it (never ``version``, ``eventPending``, ``claimedBy`` …)."""
    shaped = _shape(doc, MESSAGE_FIELDS)
    shaped.setdefault("attempts", 0)
    return shaped


def account(doc: dict[str, Any]) -> dict[str, Any]:
    """An account as the API shows it: the access token is write-only. A Disconnected
    account says why (``lastError``; ``disconnectedReason`` is where earlier senders kept it)."""
    shaped = _shape(doc, ACCOUNT_FIELDS)
    if doc.get("status") == "Disconnected" and not shaped.get("lastError"):
        shaped["lastError"] = doc.get("disconnectedReason")
    shaped["wabaId"] = doc.get("wabaId")
    shaped["enforceCustomerWindow"] = enforces_window(doc)
    return shaped


def contact(doc: dict[str, Any]) -> dict[str, Any]:
    """A contact; the window fields are null until the contact writes (ingest sets them)."""
    shaped = _shape(doc, CONTACT_FIELDS)
    shaped.setdefault("lastInboundAt", None)
    shaped.setdefault("windowExpiresAt", None)
    return shaped


class PageQuery(Query):
    """``page`` (from 1) and ``limit`` (1 to 100, default 50)."""

    page: int = Field(1, ge=1, le=1_000_000, description="Page number, from 1.")
    limit: int = Field(50, ge=1, le=100, description="Items per page, 1 to 100.")


async def count(collection: AsyncCollection[dict[str, Any]], query: dict[str, Any]) -> int:
    """How many documents match: an aggregate ``$count``, O(matches) on both servers
    (``count_documents`` loads the whole collection on the embedded server, whatever the
    filter; it answers ``[{n: 0}]`` where MongoDB answers ``[]``)."""
    pipeline: list[dict[str, Any]] = [{"$match": query}, {"$count": "n"}]
    rows = await (await collection.aggregate(pipeline)).to_list()
    return int(rows[0]["n"]) if rows else 0


async def page_of(
    collection: AsyncCollection[dict[str, Any]], query: dict[str, Any],
    sort: list[tuple[str, int]], page: PageQuery, plural: str,
    shape: Callable[[dict[str, Any]], dict[str, Any]], *, total: int | None = None,
) -> dict[str, Any]:
    """One page of ``query``: ``{<plural>: [...], total, page, limit, totalPages}``; ``total``
    is counted unless the caller knows it."""
    # Equalities as ``$eq``: the embedded server makes a bare ``{f: v}`` an array-containment
    # test that no index serves unless an index *name* ends in ``_f`` (gateway/keyset.py).
    query = {k: v if isinstance(v, dict) or k.startswith("$") else {"$eq": v}
             for k, v in query.items()}
    cursor = collection.find(query, sort=sort, skip=(page.page - 1) * page.limit,
                             limit=page.limit)
    if total is None:
        total, docs = await asyncio.gather(count(collection, query), cursor.to_list())
    else:
        docs = await cursor.to_list()
    return {
        plural: [shape(doc) for doc in docs], "total": total, "page": page.page,
        "limit": page.limit, "totalPages": math.ceil(total / page.limit),
    }
