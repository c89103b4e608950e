"""The MongoDB client and every index Relay relies on.

All ids are strings (UUIDs or deterministic keys): the embedded server cannot query ObjectId or
UUID values. Timestamps are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, TEXT, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from shared import dbwrites

Database = AsyncDatabase[dict[str, Any]]

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def created_ms(at: datetime, *, up: bool = False) -> int:
    """``at`` (timezone-aware) as integer epoch milliseconds, exactly (no float rounding),
    rounded down, or up with ``up``. A message's ``createdMs`` is ``created_ms(createdAt)``:
    the numeric key lists sort, filter and page on (a date in a filter scans the collection on
    the embedded server; BSON dates keep milliseconds, so both agree)."""
    if up:
        return -((EPOCH - at) // MILLISECOND)
    return (at - EPOCH) // MILLISECOND

INDEXES: dict[str, list[tuple[list[tuple[str, int | str]], dict[str, Any]]]] = {
    "api_keys": [([("userId", ASCENDING)], {})],
    "accounts": [
        ([("phoneNumberId", ASCENDING)], {"unique": True}),
        ([("userId", ASCENDING), ("createdAt", DESCENDING)], {}),
    ],
    "contacts": [
        ([("whatsappAccountId", ASCENDING), ("phone", ASCENDING)], {"unique": True}),
        ([("userId", ASCENDING), ("lastMessageAt", DESCENDING)], {}),
        ([("userId", ASCENDING), ("whatsappAccountId", ASCENDING), ("createdAt", DESCENDING)], {}),
    ],
    "messages": [
        # The seed's three, then the lists' (gateway/keyset.py), then workers'.
        (
            [("whatsappAccountId", ASCENDING), ("contactId", ASCENDING), ("createdAt", ASCENDING)],
            {},
        ),
        ([("campaignId", ASCENDING)], {}),
        ([("status", ASCENDING)], {}),
        (
            [("whatsappMessageId", ASCENDING)],
            {"unique": True, "partialFilterExpression": {"whatsappMessageId": {"$type": "string"}}},
        ),
        # GET /messages: (tenant, filter, createdMs) for each filter, and account + status (the
        # dashboard's list). Equalities then a numeric sort key: an index range in sort order
        # on both servers (a date in the key would scan on the embedded server).
        ([("userId", ASCENDING), ("createdMs", DESCENDING)], {}),
        ([("userId", ASCENDING), ("whatsappAccountId", ASCENDING), ("createdMs", DESCENDING)], {}),
        ([("userId", ASCENDING), ("whatsappAccountId", ASCENDING), ("status", ASCENDING),
          ("createdMs", DESCENDING)], {}),
        ([("userId", ASCENDING), ("contactId", ASCENDING), ("createdMs", DESCENDING)], {}),
        ([("userId", ASCENDING), ("status", ASCENDING), ("createdMs", DESCENDING)], {}),
        ([("userId", ASCENDING), ("direction", ASCENDING), ("createdMs", DESCENDING)], {}),
        ([("userId", ASCENDING), ("type", ASCENDING), ("createdMs", DESCENDING)], {}),
        ([("userId", ASCENDING), ("campaignId", ASCENDING), ("createdMs", DESCENDING)], {}),
        ([("eventPending", ASCENDING), ("statusChangedAt", ASCENDING)], {}),
        ([("status", ASCENDING), ("dispatched", ASCENDING), ("createdAt", ASCENDING)], {}),
        ([("status", ASCENDING), ("claimedAt", ASCENDING)], {}),
        ([("whatsappAccountId", ASCENDING), ("attemptedMs", DESCENDING)], {}),
        # GET /messages?q=: the words of content, contact name and phone (shared/search.py);
        # plain words, so no language rules (the embedded server answers from SQLite FTS5).
        ([("searchText", TEXT)], {"default_language": "none"}),
        # GET /queues/metrics: a user's live claims, one index range (gateway/queue_jobs.py).
        ([("userId", ASCENDING), ("status", ASCENDING), ("claimUntil", ASCENDING)], {}),
    ],
    "events": [
        ([("messageId", ASCENDING), ("version", ASCENDING)], {}),
        ([("occurredAt", ASCENDING)], {}),
    ],
    "idempotency": [([("createdAt", ASCENDING)], {"expireAfterSeconds": IDEMPOTENCY_TTL_SECONDS})],
    "media": [([("userId", ASCENDING), ("createdAt", DESCENDING)], {})],
    # Message templates (shared/template_store.py): an account's list in name order, and the
    # status webhooks' two ways of finding one (Meta's id; the WABA, name and language).
    "templates": [
        ([("whatsappAccountId", ASCENDING), ("name", ASCENDING), ("language", ASCENDING)], {}),
        ([("metaId", ASCENDING)], {}),
        ([("wabaId", ASCENDING), ("name", ASCENDING), ("language", ASCENDING)], {}),
    ],
    "stats_accounts": [([("userId", ASCENDING)], {})],
    # Only half-applied events carry ``pending``: the stats recovery scan finds them at once.
    "stats_messages": [([("pending.version", ASCENDING)], {"sparse": True})],
}


def connect(url: str, *, timeout_ms: int = 5000) -> AsyncMongoClient[dict[str, Any]]:
    """A client that fails fast when the server is away, with tz-aware datetimes."""
    return AsyncMongoClient(
        url,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        uuidRepresentation="standard",
        event_listeners=[dbwrites.COUNTER],
    )


async def ensure_indexes(db: Database) -> None:
    """Create every index (idempotent on both servers; see :func:`_ensure_text_index`)."""
    for collection, specs in INDEXES.items():
        for keys, options in specs:
            if any(direction == TEXT for _, direction in keys):
                await _ensure_text_index(db, collection, keys, options)
            else:
                await db[collection].create_index(keys, **options)


async def _ensure_text_index(db: Database, collection: str,
                             keys: list[tuple[str, int | str]], options: dict[str, Any]) -> None:
    """Create a text index; a refusal because it exists already is no error.

    MongoDB answers a second identical ``create_index`` with success. The embedded server
    answers "constraint failed" once documents carry the field, and does not list its text
    indexes (docs/DEVIATIONS.md), so the refusal is checked with a ``$text`` query: it runs
    only where a text index exists.
    """
    try:
        await db[collection].create_index(keys, **options)
    except OperationFailure as refusal:
        try:
            await db[collection].find({"$text": {"$search": "relay"}}, limit=1).to_list(1)
        except OperationFailure:
            raise refusal from None  # no text index after all: the refusal was real


async def ping(db: Database) -> bool:
    """Whether the database answers."""
    try:
        await db.command("ping")
    except Exception:
        return False
    return True
