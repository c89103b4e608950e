"""Accounts by ``phoneNumberId``, cached briefly: a batch costs at most one query."""

from __future__ import annotations

from typing import Any

from shared.cache import TtlCache
from shared.db import Database

ACCOUNT_CACHE_SECONDS = 30.0


class AccountCache:
    """Known accounts are cached for a short while; unknown ids are asked again every time,
    so an account connected a moment ago is found at once."""

    def __init__(self, db: Database, *, ttl: float = ACCOUNT_CACHE_SECONDS) -> None:
        self._db = db
        self._cache: TtlCache[str, dict[str, Any]] = TtlCache(ttl)

    async def lookup(self, phone_number_ids: set[str]) -> dict[str, dict[str, Any]]:
        """The accounts of those ids that exist."""
        found = {
            pnid: hit for pnid in phone_number_ids if (hit := self._cache.get(pnid)) is not None
        }
        missing = sorted(phone_number_ids - found.keys())
        if missing:
            async for doc in self._db.accounts.find({"phoneNumberId": {"$in": missing}}):
                found[doc["phoneNumberId"]] = doc
                self._cache.put(doc["phoneNumberId"], doc)
        return found
