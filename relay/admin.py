"""Administrative writes: users, API keys and (for the demo) a connected account."""

from __future__ import annotations

import uuid
from typing import Any

from shared.db import Database
from shared.models import AccountStatus, utcnow
from shared.secrets import TokenCipher, hash_api_key, new_api_key

SCOPES = ("messages:read", "messages:write", "accounts:read", "accounts:write",
          "templates:read", "templates:write", "campaigns:read", "campaigns:write",
          "webhooks:read", "webhooks:write")


class AdminError(ValueError):
    """A request the admin command cannot carry out (unknown user, unknown scope)."""


async def create_user(db: Database, name: str) -> dict[str, str]:
    """A new user and a key with every scope: ``{"userId", "apiKey"}``."""
    if not name.strip():
        raise AdminError("the user name must not be empty")
    user_id = str(uuid.uuid4())
    await db.users.insert_one({"_id": user_id, "name": name.strip(), "createdAt": utcnow()})
    key = await _insert_key(db, user_id, list(SCOPES))
    return {"userId": user_id, "apiKey": key}


async def create_key(db: Database, user_id: str, scopes: list[str]) -> dict[str, str]:
    """A new key for an existing user, limited to ``scopes``: ``{"apiKey"}``."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise AdminError(
            f"unknown scope(s) {', '.join(unknown) or '(none given)'}; "
            f"use any of {', '.join(SCOPES)}"
        )
    if await db.users.find_one({"_id": user_id}) is None:
        raise AdminError(f"no user with id {user_id}")
    return {"apiKey": await _insert_key(db, user_id, scopes)}


async def _insert_key(db: Database, user_id: str, scopes: list[str]) -> str:
    key = new_api_key()
    await db.api_keys.insert_one({
        "_id": hash_api_key(key), "userId": user_id, "scopes": scopes,
        "prefix": key[:7], "createdAt": utcnow(),
    })
    return key


async def create_account(
    db: Database,
    cipher: TokenCipher,
    *,
    user_id: str,
    name: str,
    phone_number_id: str,
    display_phone_number: str,
    access_token: str,
    daily_limit: int = 1000,
    rate_per_minute: int = 20,
    status: AccountStatus = AccountStatus.CONNECTED,
    waba_id: str | None = None,
    enforce_customer_window: bool = True,
) -> dict[str, Any]:
    """Store an account directly (the demo and tests; the API checks the token first)."""
    now = utcnow()
    doc = {
        "_id": str(uuid.uuid4()), "userId": user_id, "name": name,
        "phoneNumberId": phone_number_id, "displayPhoneNumber": display_phone_number,
        "accessToken": cipher.encrypt(access_token), "dailyLimit": daily_limit,
        "ratePerMinute": rate_per_minute, "status": status.value,
        "createdAt": now, "updatedAt": now, **({"wabaId": waba_id} if waba_id else {}),
        "enforceCustomerWindow": enforce_customer_window,
    }
    await db.accounts.insert_one(doc)
    return doc
