"""What the accept path checks beyond the body: the template against the account's registry,
the reacted-to message, and the 24-hour customer service window.

:meth:`SendChecks.parts` gives the kind's stored parts and the ``content`` lists show (the
rendered template body, the interactive body, the place, the emoji). :meth:`SendChecks.window`
refuses a non-template send to a contact whose window is closed, unless the account turned
``enforceCustomerWindow`` off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog

from gateway.errors import ApiError, validation_error
from gateway.send_parts import ReactionPart, SendMessageBody, TemplatePart
from shared.cache import TtlCache
from shared.db import Database
from shared.message_parts import (
    OUTSIDE_WINDOW,
    enforces_window,
    interactive_content,
    location_content,
    window_open,
)
from shared.models import MessageType, as_utc
from shared.template_render import TemplateParametersInvalid, check_parameters, render_body
from shared.templates import Template, TemplateStatus, TemplateStore

log = structlog.get_logger("relay.gateway.accept")

# Syncs an account's templates from Meta (by account id: it reads the token itself); the
# accept path calls it once when a template send names a template Relay does not know.
TemplateSync = Callable[[str], Awaitable[object]]


class SendChecks:
    """The checks and derived parts of the new kinds, and the window (open windows cached)."""

    def __init__(self, *, db: Database, templates: TemplateStore | None = None,
                 sync: TemplateSync | None = None, window_ttl: float = 3600.0) -> None:
        self.db = db
        self.templates = templates
        self.sync = sync
        # (account, phone) -> windowExpiresAt, kept only while in the future: a window only
        # moves forward, so an open one stays open until that time; a closed one is read again.
        self.windows: TtlCache[tuple[str, str], datetime] = TtlCache(window_ttl)
        self._syncing: dict[str, asyncio.Future[object]] = {}

    async def parts(self, user_id: str, account: dict[str, Any],
                    body: SendMessageBody) -> dict[str, Any]:
        """The fields the message is stored with for its kind (``content`` included)."""
        kind = body.type
        if kind == MessageType.TEMPLATE and body.template is not None:
            return await self._template(account, body.template)
        if kind == MessageType.INTERACTIVE and body.interactive is not None:
            return {"interactive": body.interactive,
                    "content": interactive_content(body.interactive)}
        if kind == MessageType.LOCATION and body.location is not None:
            location = body.location.model_dump(by_alias=True, exclude_none=True)
            return {"location": location, "content": location_content(location)}
        if kind == MessageType.REACTION and body.reaction is not None:
            return await self._reaction(user_id, account, body.reaction)
        return {}

    async def window(self, account: dict[str, Any], phone: str, kind: MessageType,
                     now: datetime) -> str | None:
        """Refuse (``OUTSIDE_CUSTOMER_WINDOW``) a non-template send to a closed window when
        the account enforces it; the contact's id when it was read here, else None."""
        if kind == MessageType.TEMPLATE or not enforces_window(account):
            return None
        key = (account["_id"], phone)
        cached = self.windows.get(key)
        if cached is not None and cached > now:
            return None
        contact = await self.db.contacts.find_one(
            {"whatsappAccountId": account["_id"], "phone": phone},
            projection={"_id": 1, "windowExpiresAt": 1})
        expires = as_utc(contact.get("windowExpiresAt")) if contact else None
        if contact is None or not isinstance(expires, datetime) or not window_open(expires, now):
            self.windows.forget(key)
            raise ApiError(400, OUTSIDE_WINDOW, "OUTSIDE_CUSTOMER_WINDOW", [
                {"field": "to", "message": "the contact has not written within 24 hours"}])
        self.windows.put(key, expires)
        return str(contact["_id"])

    async def _template(self, account: dict[str, Any], part: TemplatePart) -> dict[str, Any]:
        template = await self._find(account, part.name, part.language)
        label = f"Template {part.name!r} ({part.language})"
        if template is None:
            raise ApiError(400, f"{label} does not exist for this account",
                           "TEMPLATE_NOT_FOUND", [{"field": "template.name",
                                                   "message": "unknown name or language"}])
        if template.status != TemplateStatus.APPROVED:
            raise ApiError(400, f"{label} is {template.status}, not APPROVED",
                           "TEMPLATE_NOT_APPROVED", [{"field": "template.name",
                                                      "message": f"status {template.status}"}])
        try:
            check_parameters(template.components, part.components)
        except TemplateParametersInvalid as exc:
            raise ApiError(400, f"{label}: {exc}", "TEMPLATE_PARAMETERS_INVALID",
                           [{"field": "template.components", "message": str(exc)}]) from None
        stored = part.model_dump(by_alias=True)
        return {"template": stored, "content": render_body(template.components, part.components)}

    async def _find(self, account: dict[str, Any], name: str, language: str) -> Template | None:
        """The template; when unknown, after one sync of the account's templates from Meta."""
        if self.templates is None:
            return None
        found = await self.templates.find(account["_id"], name, language)
        if found is not None or self.sync is None or not account.get("wabaId"):
            return found
        await self._sync_once(account)
        return await self.templates.find(account["_id"], name, language)

    async def _sync_once(self, account: dict[str, Any]) -> None:
        """One sync per account at a time: concurrent requests wait for the same one."""
        assert self.sync is not None
        running = self._syncing.get(account["_id"])
        if running is None:
            running = asyncio.ensure_future(self.sync(account["_id"]))
            self._syncing[account["_id"]] = running
            running.add_done_callback(lambda _: self._syncing.pop(account["_id"], None))
        try:
            await asyncio.shield(running)
        except Exception as exc:  # Meta away or refusing: the template stays unknown
            log.warning("template_sync_failed", account_id=account["_id"], error=str(exc)[:300])

    async def _reaction(self, user_id: str, account: dict[str, Any],
                        part: ReactionPart) -> dict[str, Any]:
        target = await self.db.messages.find_one(
            {"_id": part.message_id},
            projection={"userId": 1, "whatsappAccountId": 1, "whatsappMessageId": 1})
        if target is None or target.get("userId") != user_id or \
                target.get("whatsappAccountId") != account["_id"]:
            # Issue 15 names it bad input: a 400 naming the field, the same for a message that
            # does not exist and one of another user or account (nothing about theirs leaks).
            raise validation_error(
                "reaction.messageId: no message with this id was sent or received through "
                "this account", "reaction.messageId")
        if not target.get("whatsappMessageId"):
            raise validation_error("reaction.messageId: that message has no WhatsApp id yet "
                                   "(it was not sent); react once it is", "reaction.messageId")
        reaction = {"messageId": part.message_id, "emoji": part.emoji,
                    "whatsappMessageId": target["whatsappMessageId"]}
        return {"reaction": reaction, "content": part.emoji}
