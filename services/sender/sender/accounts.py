"""Accounts as the sender needs them: number id, decrypted token, rate, daily limit, status
(cached briefly)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.cache import TtlCache
from shared.db import Database
from shared.message_parts import enforces_window
from shared.models import AccountStatus, utcnow
from shared.secrets import TokenCipher

CACHE_SECONDS = 5.0
DEFAULT_DAILY_LIMIT = 1000


@dataclass(frozen=True)
class Account:
    id: str
    phone_number_id: str
    token: str
    rate_per_minute: int
    connected: bool
    daily_limit: int = DEFAULT_DAILY_LIMIT
    enforce_window: bool = True  # enforceCustomerWindow: non-template sends need an open window


class Accounts:
    """Reads ``accounts`` through a short cache; marks an account Disconnected on a token error."""

    def __init__(self, db: Database, cipher: TokenCipher, *, ttl: float = CACHE_SECONDS) -> None:
        self._db = db
        self._cipher = cipher
        self._cache: TtlCache[str, Account | None] = TtlCache(ttl)

    async def get(self, account_id: str) -> Account | None:
        """The account (None when it does not exist: that is cached too)."""
        return await self._cache.get_or_load(account_id, lambda: self._read(account_id))

    async def _read(self, account_id: str) -> Account | None:
        doc = await self._db.accounts.find_one({"_id": account_id})
        return self._from_doc(doc) if doc else None

    def _from_doc(self, doc: dict[str, Any]) -> Account:
        try:
            token = self._cipher.decrypt(doc["accessToken"])
        except (ValueError, KeyError):
            token = ""
        return Account(
            id=doc["_id"], phone_number_id=str(doc["phoneNumberId"]), token=token,
            rate_per_minute=int(doc.get("ratePerMinute") or 20),
            connected=doc.get("status", AccountStatus.CONNECTED) == AccountStatus.CONNECTED
            and bool(token),
            daily_limit=int(doc.get("dailyLimit", DEFAULT_DAILY_LIMIT)),
            enforce_window=enforces_window(doc),
        )

    async def disconnect(self, account_id: str, reason: str) -> None:
        """The token no longer works (0/190): the account needs a new one. ``reason`` is kept
        as ``lastError``, which the API shows beside the status (a PATCH with a working token
        clears it)."""
        await self._db.accounts.update_one(
            {"_id": account_id},
            {"$set": {"status": AccountStatus.DISCONNECTED.value, "updatedAt": utcnow(),
                      "lastError": f"Access token refused: {reason}"}},
        )
        self._cache.forget(account_id)
