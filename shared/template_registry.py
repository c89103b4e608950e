"""The template registry's two calls to Meta: sync an account's templates from its WABA, and
create one there (stored ``PENDING`` until Meta's status webhook moves it).

Used by the gateway's template endpoints and by its accept path (an unknown template name or
language costs one on-demand :meth:`TemplateRegistry.sync_account` before it is refused).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import structlog

from shared.cloudapi import CloudApiError, ErrorClass
from shared.db import Database
from shared.models import utcnow
from shared.secrets import TokenCipher
from shared.templates import (
    SyncCounts,
    Template,
    TemplateStatus,
    TemplateStore,
    from_meta,
    template_id,
)

log = structlog.get_logger("relay.templates")
T = TypeVar("T")


class Failure(StrEnum):
    NO_WABA = "no_waba"          # the account has no wabaId
    NO_ACCOUNT = "no_account"    # the account does not exist
    EXISTS = "exists"            # the account has that name and language already
    REFUSED = "refused"          # Meta refused the request (4xx)
    TOKEN = "token"              # Meta refused the account's access token
    UNAVAILABLE = "unavailable"  # Meta did not answer, or answered 5xx


class TemplateError(Exception):
    """A sync or create that could not be done, and why (:class:`Failure`)."""

    def __init__(self, failure: Failure, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message


NO_WABA = ("This WhatsApp account has no wabaId: set it with PATCH /whatsapp-accounts/:id "
           "before using templates")


class TemplateApi(Protocol):
    """What the registry asks of the Cloud API (``shared.cloudapi.CloudApi``)."""

    async def list_templates(self, waba_id: str, token: str) -> list[dict[str, Any]]: ...

    async def create_template(
        self, waba_id: str, token: str, template: dict[str, Any]
    ) -> dict[str, Any]: ...


class TemplateRegistry:
    """Syncs and creates templates with the account's own (decrypted) access token."""

    def __init__(
        self, *, db: Database, cloud: TemplateApi, cipher: TokenCipher, store: TemplateStore
    ) -> None:
        self.db = db
        self.cloud = cloud
        self.cipher = cipher
        self.store = store

    async def sync_account(self, account_id: str) -> SyncCounts:
        """:meth:`sync` of the account ``account_id`` (read here; the caller checked that it
        is the caller's own). :class:`TemplateError` when it has no ``wabaId`` or Meta fails."""
        account = await self.db.accounts.find_one({"_id": account_id})
        if account is None:
            raise TemplateError(Failure.NO_ACCOUNT, "WhatsApp account not found")
        return await self.sync(account)

    async def sync(self, account: Mapping[str, Any]) -> SyncCounts:
        """Make the account's stored templates equal its WABA's list at Meta (every page)."""
        waba_id = _waba(account)
        items = await self._meta(self.cloud.list_templates(waba_id, self._token(account)))
        now = utcnow()
        fetched = [t for item in items if (t := from_meta(
            item, account_id=account["_id"], user_id=account["userId"], waba_id=waba_id,
            now=now)) is not None]
        counts = await self.store.sync(account["_id"], fetched)
        log.info("templates_synced", account_id=account["_id"], listed=len(items),
                 added=counts.added, updated=counts.updated, removed=counts.removed)
        return counts

    async def create(
        self, account: Mapping[str, Any], *, name: str, language: str, category: str,
        components: list[dict[str, Any]],
    ) -> Template:
        """Create the template at Meta and store it ``PENDING`` (stored first, so a status
        webhook that outruns Meta's answer finds it by name and language)."""
        waba_id = _waba(account)
        template = Template(
            _id=template_id(account["_id"], name, language), whatsapp_account_id=account["_id"],
            user_id=account["userId"], waba_id=waba_id, name=name, language=language,
            category=category, status=TemplateStatus.PENDING, components=components,
            updated_at=utcnow())
        if not await self.store.add(template):
            raise TemplateError(Failure.EXISTS, f"A template named {name!r} in {language} "
                                "already exists for this account")
        body = {"name": name, "language": language, "category": category,
                "components": components}
        try:
            answer = await self._meta(self.cloud.create_template(
                waba_id, self._token(account), body))
        except TemplateError:
            await self.store.discard(template.id)
            raise
        meta_id = answer.get("id")
        if meta_id is None:
            return template
        stored = await self.store.set_meta_id(template.id, str(meta_id))
        if stored is None:  # a sync that ran meanwhile found it not yet listed at Meta
            stored = template.model_copy(update={"meta_id": str(meta_id)})
            await self.store.add(stored)
        return stored

    def _token(self, account: Mapping[str, Any]) -> str:
        try:
            return self.cipher.decrypt(str(account.get("accessToken") or ""))
        except ValueError:
            raise TemplateError(Failure.TOKEN, "The account's access token cannot be read; "
                                "set a new one with PATCH /whatsapp-accounts/:id") from None

    @staticmethod
    async def _meta(call: Awaitable[T]) -> T:
        try:
            return await call
        except CloudApiError as exc:
            raise _failure(exc) from exc


def _waba(account: Mapping[str, Any]) -> str:
    waba_id = account.get("wabaId")
    if not waba_id:
        raise TemplateError(Failure.NO_WABA, NO_WABA)
    return str(waba_id)


def _failure(exc: CloudApiError) -> TemplateError:
    text = exc.readable()
    if exc.kind == ErrorClass.AUTH:
        return TemplateError(Failure.TOKEN, f"WhatsApp refused the account's access token: {text}")
    if exc.http_status is None or exc.http_status >= 500 or exc.kind == ErrorClass.RETRY:
        return TemplateError(Failure.UNAVAILABLE, f"The WhatsApp Cloud API is unavailable: {text}")
    return TemplateError(Failure.REFUSED, f"WhatsApp refused the request: {text}")
