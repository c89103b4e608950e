"""Accepting a send request: the one code path behind ``POST /messages`` and the broker intake.

:meth:`Acceptor.accept` checks the account (the caller's, connected), the customer service
window and the kind's parts (template, reacted-to message: ``gateway.send_checks``; the body
itself is ``gateway.send_parts.SendMessageBody``), the media, takes one unit
of the account's daily limit atomically, finds or creates the contact, stores the message as
``Queued`` and publishes its send command with confirms. A refusal is an :class:`ApiError`
(the HTTP view answers it, the intake parks it); a unit taken is given back on any failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime
from typing import Any

import structlog
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from gateway.batching import contact_batcher, usage_batcher
from gateway.errors import ApiError, not_found
from gateway.media_check import MediaCheck, media_url
from gateway.metrics import GatewayMetrics
from gateway.send_checks import SendChecks, TemplateSync
from gateway.send_parts import SendMessageBody
from shared.broker import Broker, PublishError
from shared.cache import TtlCache
from shared.db import Database
from shared.messages import Message, MessageStore, new_outbound
from shared.models import (
    AccountStatus,
    SendMessage,
    utcnow,
)
from shared.pacing import Planner, publish_send
from shared.settings import Settings
from shared.store import EventOutbox
from shared.templates import TemplateStore

__all__ = ["Acceptor", "SendMessageBody", "new_message", "usage_id"]
log = structlog.get_logger("relay.gateway.accept")


def usage_id(account_id: str, now: datetime) -> str:
    """The ``daily_usage`` record of the account's current UTC day."""
    return f"{account_id}:{now.strftime('%Y-%m-%d')}"


class Acceptor:
    """Validates, enforces the daily limit, stores and dispatches one outbound message."""

    def __init__(
        self, *, db: Database, broker: Broker, outbox: EventOutbox, settings: Settings,
        metrics: GatewayMetrics, media: MediaCheck, messages: MessageStore,
        account_ttl: float = 2.0, templates: TemplateStore | None = None,
        sync: TemplateSync | None = None,
    ) -> None:
        self.db = db
        self.messages = messages
        self.media = media
        self.broker = broker
        self.outbox = outbox
        self.settings = settings
        self.metrics = metrics
        self.accounts: TtlCache[str, dict[str, Any]] = TtlCache(account_ttl)
        self.contacts: TtlCache[tuple[str, str], str] = TtlCache(3600.0)
        # Contact names by id ("" for none), for the messages' searchText (shared/search.py);
        # a minute, so a contact ingest renames is soon stored under its new name.
        self.contact_names: TtlCache[str, str] = TtlCache(60.0)
        self.checks = SendChecks(db=db, templates=templates, sync=sync)
        self.plans: dict[str, Planner] = {}
        self._usage = usage_batcher(db)
        self._bumps = contact_batcher(db)

    async def accept(
        self, user_id: str, body: SendMessageBody, *, idempotency_key: str | None = None,
        channel: str = "http", via: str | None = None,
    ) -> dict[str, Any]:
        """Store and dispatch the message; return its document, or raise the refusal."""
        try:
            doc = await self._accept(user_id, body, (idempotency_key, via))
        except ApiError as exc:
            self.metrics.refused.labels(exc.code, channel).inc()
            raise
        self.metrics.accepted.labels(body.type.value, channel).inc()
        return doc

    async def _accept(
        self, user_id: str, body: SendMessageBody, key: tuple[str | None, str | None]
    ) -> dict[str, Any]:
        account = await self.account(user_id, body.whatsapp_account_id)
        if account["status"] != AccountStatus.CONNECTED:
            raise ApiError(400, "WhatsApp account is not connected",
                           "WHATSAPP_ACCOUNT_NOT_CONNECTED")
        contact_id = await self.checks.window(account, body.to, body.type, utcnow())
        if contact_id is not None:
            self.contacts.put((account["_id"], body.to), contact_id)
        parts = await self.checks.parts(user_id, account, body)
        body = await self._check_media(user_id, body)
        now = utcnow()
        usage = usage_id(account["_id"], now)
        await self._take_unit(usage, int(account.get("dailyLimit", 1000)))
        try:
            doc = await self._store(user_id, account, body, key, now, parts)
        except BaseException:
            await self._give_back(usage)
            raise
        await self.dispatch(doc, rate=int(account.get("ratePerMinute") or 20))
        return doc

    def _planner(self, doc: dict[str, Any], rate: int | None) -> Planner | None:
        """The account's plan of start slots in this process (None: publish to the shard)."""
        if rate is None or rate <= 0 or doc.get("scheduledFor") or not self.settings.pacing_enabled:
            return None  # a scheduled message is deferred by the sender until its time
        planner = self.plans.get(doc["whatsappAccountId"])
        if planner is None:
            if len(self.plans) >= 100_000:
                self.plans.clear()
            planner = self.plans[doc["whatsappAccountId"]] = Planner(rate)
        planner.resize(rate)
        return planner

    async def account(self, user_id: str, account_id: str) -> dict[str, Any]:
        """The caller's account (briefly cached); 404 when absent or someone else's."""
        doc = self.accounts.get(account_id)
        if doc is None:
            doc = await self.db.accounts.find_one({"_id": account_id},
                                                  projection={"accessToken": 0})
            if doc is not None:
                self.accounts.put(account_id, doc)
        if doc is None or doc["userId"] != user_id:
            raise not_found("WhatsApp account")
        account: dict[str, Any] = doc
        return account

    async def _check_media(self, user_id: str, body: SendMessageBody) -> SendMessageBody:
        """Media WhatsApp would refuse is a 400 (``gateway.media_check``); a ``mediaUrl`` is
        fetched and kept, and the message carries the stored copy (``mediaId``, its URL)."""
        if body.media_id is not None:
            await self.media.stored(user_id, body.media_id, body.type.value)
        elif body.media_url is not None:
            doc = await self.media.fetched(user_id, body.media_url, body.type.value)
            return body.model_copy(update={
                "media_id": doc["_id"], "media_url": media_url(self.settings, doc["_id"])})
        return body

    async def _take_unit(self, usage: str, limit: int) -> None:
        """One unit of today's limit, atomically (batched with concurrent requests)."""
        if limit <= 0 or not await self._usage.submit((usage, limit), None):
            raise ApiError(400, "Daily message limit reached", "DAILY_LIMIT_REACHED")

    async def _give_back(self, usage: str) -> None:
        with contextlib.suppress(PyMongoError):
            await self.db.daily_usage.update_one({"_id": usage}, {"$inc": {"count": -1}})

    async def _store(
        self, user_id: str, account: dict[str, Any], body: SendMessageBody,
        key: tuple[str | None, str | None], now: datetime, parts: dict[str, Any],
    ) -> dict[str, Any]:
        cached = self.contacts.get((account["_id"], body.to))
        contact_id = cached or await self._upsert_contact(user_id, account["_id"], body.to, now)
        message = new_message(user_id, account["_id"], contact_id, body, key, now, parts)
        name = await self._contact_name(contact_id) or None
        if cached is None:
            await self.messages.add(message, contact_name=name)
            return message.to_doc()
        inserted, bumped = await asyncio.gather(
            self.messages.add(message, contact_name=name),
            self._bumps.submit("contacts", (contact_id, now)), return_exceptions=True)
        if isinstance(inserted, BaseException):
            if not isinstance(bumped, BaseException):
                await self._unbump(contact_id)
            raise inserted
        return message.to_doc()

    async def _contact_name(self, contact_id: str) -> str:
        """The contact's name ("" when it has none), briefly cached; read once otherwise."""
        name = self.contact_names.get(contact_id)
        if name is None:
            doc = await self.db.contacts.find_one({"_id": contact_id}, projection={"name": 1})
            name = str((doc or {}).get("name") or "")
            self.contact_names.put(contact_id, name)
        return name

    async def _upsert_contact(self, user_id: str, account_id: str, phone: str,
                              now: datetime) -> str:
        """Count the message on the contact, creating it first if it is new.

        Not one upsert: nx-27017's ``find_one_and_update(upsert=True)`` ignores
        ``$setOnInsert`` (docs/DEVIATIONS.md), so the id would not be ours.
        """
        key = {"whatsappAccountId": account_id, "phone": phone}
        bump = {"$inc": {"totalMessages": 1}, "$set": {"lastMessageAt": now, "updatedAt": now}}
        for _ in range(2):
            found = await self.db.contacts.find_one_and_update(
                key, bump, return_document=ReturnDocument.AFTER, projection={"_id": 1, "name": 1})
            if found is None:
                contact = {"_id": str(uuid.uuid4()), "userId": user_id, **key, "name": None,
                           "unreadCount": 0, "totalMessages": 1, "lastMessageAt": now,
                           "createdAt": now, "updatedAt": now}
                try:
                    await self.db.contacts.insert_one(contact)
                except DuplicateKeyError:
                    continue  # a concurrent request created it: count on that one
                found = contact
            self.contacts.put((account_id, phone), str(found["_id"]))
            self.contact_names.put(str(found["_id"]), str(found.get("name") or ""))
            return str(found["_id"])
        raise RuntimeError("contact could be neither found nor created")

    async def _unbump(self, contact_id: str) -> None:
        with contextlib.suppress(PyMongoError):
            await self.db.contacts.update_one({"_id": contact_id},
                                              {"$inc": {"totalMessages": -1}})

    async def dispatch(self, doc: dict[str, Any], *, rate: int | None = None) -> None:
        """Publish the send command (beyond the account's next minute of sends, to the delay
        queues: ``shared.pacing``); if the broker is away the outbox sweep publishes it."""
        command = SendMessage(message_id=doc["_id"], whatsapp_account_id=doc["whatsappAccountId"],
                              user_id=doc["userId"])
        try:
            await publish_send(self.broker, command, message_id=doc["_id"],
                               planner=self._planner(doc, rate))
        except PublishError as exc:
            self.metrics.publish_failures.inc()
            log.warning("send_publish_failed", message_id=doc["_id"], error=str(exc)[:300])
            self.outbox.add(doc)
            return
        self.outbox.add(doc, dispatched=True)


def new_message(
    user_id: str, account_id: str, contact_id: str, body: SendMessageBody,
    key: tuple[str | None, str | None], now: datetime, parts: dict[str, Any] | None = None,
) -> Message:
    """The freshly accepted outbound message of ``body`` (Queued, version 1).

    ``key`` is the idempotency key and the channel it came through (``via``), if any;
    ``parts`` the kind's checked parts and derived ``content`` (``SendChecks.parts``).
    """
    idempotency_key, via = key
    parts = dict(parts or {})
    return new_outbound(
        user_id=user_id, account_id=account_id, contact_id=contact_id, to=body.to,
        type=body.type, content=parts.pop("content", body.content), media_url=body.media_url,
        media_id=body.media_id, scheduled_for=body.scheduled_for, campaign_id=body.campaign_id,
        idempotency_key=idempotency_key, via=via, now=now, **parts)
