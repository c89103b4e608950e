"""Documents written straight to the database, for states the API cannot reach on its own."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from shared.db import Database, created_ms
from shared.models import utcnow


async def message(db: Database, *, user_id: str, account_id: str, **fields: Any) -> dict[str, Any]:
    now = fields.pop("createdAt", utcnow())
    doc = {
        "_id": str(uuid.uuid4()), "userId": user_id, "whatsappAccountId": account_id,
        "contactId": fields.pop("contactId", "contact-1"), "campaignId": None,
        "direction": "Outbound", "type": "Text", "content": "hi", "mediaUrl": None,
        "whatsappMessageId": None, "status": "Queued", "errorMessage": None,
        "scheduledFor": None, "sentAt": None, "deliveredAt": None, "readAt": None,
        "isFromBot": False, "createdAt": now, "createdMs": created_ms(now), "updatedAt": now,
        "to": "+15551234567",
        "attempts": 0, "version": 1, "previousStatus": None, "statusChangedAt": now,
        "dispatched": True,
    }
    doc.update(fields)
    await db.messages.insert_one(doc)
    return doc


async def inbound(db: Database, *, user_id: str, account_id: str,
                  unread: int = 1) -> dict[str, Any]:
    """A Delivered inbound message from a contact with ``unread`` unread messages."""
    contact_id = str(uuid.uuid4())
    now = utcnow()
    await db.contacts.insert_one({
        "_id": contact_id, "userId": user_id, "whatsappAccountId": account_id,
        "phone": "+15557654321", "name": "Ada", "unreadCount": unread, "totalMessages": 1,
        "lastMessageAt": now, "createdAt": now, "updatedAt": now,
    })
    return await message(
        db, user_id=user_id, account_id=account_id, contactId=contact_id, direction="Inbound",
        status="Delivered", whatsappMessageId=f"wamid.{uuid.uuid4().hex}", to=None,
        **{"from": "+15557654321"}, deliveredAt=now,
    )


def ago(**delta: float) -> datetime:
    return utcnow() - timedelta(**delta)
