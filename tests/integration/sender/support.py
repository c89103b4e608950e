"""Helpers for the sender's tests: accounts and message documents inserted directly, commands
published directly (the gateway is not needed), and the simulator's control API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from relay import admin
from shared import topology
from shared.broker import Broker
from shared.db import Database
from shared.messages import epoch_ms, new_outbound
from shared.models import MessageType, SendMessage
from shared.secrets import TokenCipher
from shared.settings import Settings

CLAIM_LEASE_MS = 60_000


def message_doc(account: dict[str, Any], *, to: str = "+15551234567", type_: str = "Text",
                content: str | None = "hello", scheduled_for: datetime | None = None,
                **extra: Any) -> dict[str, Any]:
    """A stored outbound message, as the gateway writes it (``extra`` overrides fields)."""
    message = new_outbound(user_id=account["userId"], account_id=account["_id"],
                           contact_id=str(uuid.uuid4()), to=to, type=MessageType(type_),
                           content=content, scheduled_for=scheduled_for)
    doc = {**message.to_doc(), **extra}
    if "claimedAt" in extra and "claimUntil" not in extra:  # a claim as a sender takes it
        doc["claimUntil"] = epoch_ms(extra["claimedAt"]) + CLAIM_LEASE_MS
    return doc


@dataclass
class Seeder:
    """Writes accounts and messages and publishes their send commands."""

    db: Database
    broker: Broker
    settings: Settings

    async def account(self, *, rate: int = 600, token: str = "good-token",
                      phone_number_id: str | None = None,
                      window: bool = False) -> dict[str, Any]:
        """A connected account (``window``: whether it enforces the customer window)."""
        user = await admin.create_user(self.db, "sender-test")
        return await admin.create_account(
            self.db, TokenCipher(self.settings.secret_key), user_id=user["userId"],
            name="test", phone_number_id=phone_number_id or str(uuid.uuid4().int)[:15],
            display_phone_number="+15550783881", access_token=token, rate_per_minute=rate,
            enforce_customer_window=window,
        )

    async def messages(self, account: dict[str, Any], count: int = 1,
                       **kwargs: Any) -> list[dict[str, Any]]:
        docs = [message_doc(account, **kwargs) for _ in range(count)]
        await self.db.messages.insert_many(docs)
        return docs

    async def publish(self, doc: dict[str, Any]) -> None:
        command = SendMessage(message_id=doc["_id"], whatsapp_account_id=doc["whatsappAccountId"],
                              user_id=doc["userId"])
        key = topology.shard_key(topology.shard_of(doc["whatsappAccountId"], self.broker.shards))
        await self.broker.publish(topology.SEND, key, command)
        await self.db.messages.update_one({"_id": doc["_id"]}, {"$set": {"dispatched": True}})

    async def status(self, doc: dict[str, Any]) -> dict[str, Any]:
        found = await self.db.messages.find_one({"_id": doc["_id"]})
        assert found is not None
        return found


@dataclass
class SimControl:
    """The simulator's ``/_sim`` control API."""

    base: str
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, f"{self.base}/_sim/{path}", json=body) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def sends(self) -> list[dict[str, Any]]:
        return (await self.call("GET", "sends"))["sends"]

    async def counts(self) -> dict[str, int]:
        return (await self.call("GET", "sends/counts"))["counts"]

    async def fail(self, **rule: Any) -> None:
        await self.call("POST", "fail", rule)

    async def sends_of(self, message_id: str) -> list[dict[str, Any]]:
        return [s for s in await self.sends() if s.get("messageId") == message_id]
