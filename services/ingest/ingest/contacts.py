"""Contacts of inbound messages: found or created by (account, phone), counted exactly once.

Counting is idempotent without transactions: the contact keeps the ids of the last
:data:`COUNT_WINDOW` messages it counted, and the increment is conditional on the message's id
not being among them. The message's ``contactCounted`` flag is set after that, so a crash between
the message insert and the count is finished by the replay (Meta's retry or the inbox's
redelivery), and a crash between the count and the flag does not count twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from ingest.mapping import NOT_FROM_USER
from shared.db import Database
from shared.models import as_utc, utcnow

COUNT_WINDOW = 200
# WhatsApp's customer service window: free-form messages within 24 h of the user's last message.
CUSTOMER_WINDOW = timedelta(hours=24)
ContactKey = tuple[str, str]  # (whatsappAccountId, phone)


async def ensure_contacts(
    db: Database, wanted: dict[ContactKey, tuple[str, str | None]],
    names: dict[ContactKey, str | None] | None = None,
    renamed: list[tuple[str, str, str]] | None = None,
) -> dict[ContactKey, str]:
    """Contact ids for ``{(account, phone): (userId, profile name)}``, creating missing ones
    and keeping names current. ``names`` (if given) receives each contact's current name, and
    ``renamed`` the ``(userId, contactId, new name)`` of each existing contact renamed now."""
    found = await _find(db, wanted.keys())
    missing = [key for key in wanted if key not in found]
    if missing:
        await _create(db, {key: wanted[key] for key in missing})
        found.update(await _find(db, missing))
    changed = [(key, name) for key, (_, name) in wanted.items()
               if name and key in found and found[key][1] != name]
    renames = [UpdateOne({"_id": found[key][0]}, {"$set": {"name": name, "updatedAt": utcnow()}})
               for key, name in changed]
    if renames:
        await db.contacts.bulk_write(renames, ordered=False)
    if renamed is not None:
        renamed.extend((wanted[key][0], found[key][0], name) for key, name in changed)
    if names is not None:
        names.update({key: wanted[key][1] or found[key][1] for key in wanted if key in found})
    return {key: value[0] for key, value in found.items()}


async def _find(db: Database, keys: Any) -> dict[ContactKey, tuple[str, str | None]]:
    by_account: dict[str, list[str]] = {}
    for account_id, phone in keys:
        by_account.setdefault(account_id, []).append(phone)
    found: dict[ContactKey, tuple[str, str | None]] = {}
    for account_id, phones in by_account.items():
        query = {"whatsappAccountId": account_id, "phone": {"$in": phones}}
        async for doc in db.contacts.find(query, {"_id": 1, "phone": 1, "name": 1}):
            found[(account_id, doc["phone"])] = (doc["_id"], doc.get("name"))
    return found


async def _create(db: Database, new: dict[ContactKey, tuple[str, str | None]]) -> None:
    now = utcnow()
    docs: list[dict[str, Any]] = [
        {
            "_id": str(uuid.uuid4()), "userId": user_id, "whatsappAccountId": account_id,
            "phone": phone, "name": name, "unreadCount": 0, "totalMessages": 0,
            "lastMessageAt": None, "lastInboundAt": None, "windowExpiresAt": None,
            "countedMessageIds": [], "createdAt": now, "updatedAt": now,
        }
        for (account_id, phone), (user_id, name) in new.items()
    ]
    try:
        await db.contacts.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        # Another worker created some of them first: the unique index decided, we re-read.
        if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
            raise


async def count_messages(db: Database, docs: list[dict[str, Any]]) -> None:
    """Add each message to its contact's counters once (the caller then marks it
    ``contactCounted`` through the message store)."""
    if not docs:
        return
    now = utcnow()
    ops = [
        _count_op(doc["contactId"], doc["_id"], as_utc(doc["createdAt"]), now,
                  opens_window=doc.get("whatsappType") not in NOT_FROM_USER)
        for doc in docs
    ]
    await db.contacts.bulk_write(ops, ordered=True)


def _count_op(
    contact_id: str, message_id: str, at: Any, now: datetime, *, opens_window: bool
) -> UpdateOne:
    """The one write per inbound message: counters, ``lastMessageAt`` and, for a message the
    user wrote, the customer service window. ``$max`` keeps every time monotonic, so a webhook
    replayed late or out of order never moves the window backwards."""
    latest: dict[str, Any] = {"lastMessageAt": at}
    if opens_window and isinstance(at, datetime):
        latest.update(lastInboundAt=at, windowExpiresAt=at + CUSTOMER_WINDOW)
    return UpdateOne(
        {"_id": contact_id, "countedMessageIds": {"$nin": [message_id]}},
        {
            "$inc": {"unreadCount": 1, "totalMessages": 1},
            "$max": latest,
            "$set": {"updatedAt": now},
            "$push": {"countedMessageIds": {"$each": [message_id], "$slice": -COUNT_WINDOW}},
        },
    )
