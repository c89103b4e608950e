"""Tenancy of filters: an account id that is not the caller's answers 404, wherever it is used
(a path or a ``whatsappAccountId`` filter), never an empty 200 or a 403 (contract: "anyone
else's id answers 404")."""

from __future__ import annotations

from gateway.errors import not_found
from shared.db import Database


async def own_account(db: Database, user_id: str, account_id: str | None) -> None:
    """Nothing when ``account_id`` is None or the caller's account; else a 404."""
    if account_id is None:
        return
    found = await db.accounts.find_one({"_id": account_id, "userId": user_id}, {"_id": 1})
    if found is None:
        raise not_found("WhatsApp account")
