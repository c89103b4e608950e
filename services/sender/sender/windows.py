"""The contact's customer service window as the sender re-checks it right before a send."""

from __future__ import annotations

from datetime import datetime

from shared.db import Database
from shared.models import as_utc


class MongoContactWindows:
    """Reads ``windowExpiresAt`` of one contact (one point read by ``_id``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def expires_at(self, contact_id: str) -> datetime | None:
        doc = await self._db.contacts.find_one({"_id": contact_id},
                                               projection={"windowExpiresAt": 1})
        expires = as_utc(doc.get("windowExpiresAt")) if doc else None
        return expires if isinstance(expires, datetime) else None
