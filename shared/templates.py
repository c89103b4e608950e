"""Message templates: the typed template and the port every service reads and writes them through.

A template belongs to one WhatsApp account (its WABA) and is identified there by ``name`` and
``language``. :class:`TemplateStore` is the port (the MongoDB adapter and an in-memory fake
implement it, as ``stats`` does for its projection); the gateway checks template sends against
it, the registry endpoints and ingest's ``message_template_status_update`` keep it current.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.cache import TtlCache
from shared.models import as_utc, utcnow


class TemplateStatus(StrEnum):
    APPROVED = "APPROVED"
    PENDING = "PENDING"
    REJECTED = "REJECTED"
    PAUSED = "PAUSED"
    DISABLED = "DISABLED"


class Template(BaseModel):
    """One template of one account, as Meta describes it (``components`` exactly as Meta's)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    id: str = Field(alias="_id", description="Relay's id: <accountId>:<name>:<language>.")
    whatsapp_account_id: str
    user_id: str
    meta_id: str | None = Field(None, description="Meta's template id.")
    waba_id: str | None = Field(None, description="The WhatsApp Business Account it lives in.")
    name: str
    language: str
    category: str | None = None
    status: TemplateStatus
    components: list[dict[str, Any]] = Field(default_factory=list)
    rejected_reason: str | None = None
    updated_at: Annotated[datetime | None, BeforeValidator(as_utc)] = None


def template_id(account_id: str, name: str, language: str) -> str:
    return f"{account_id}:{name}:{language}"


# Meta's template statuses (in lists) and ``message_template_status_update`` events, as the
# five statuses Relay keeps. An event not listed (``FLAGGED``: a quality warning) changes nothing.
META_STATUSES: dict[str, TemplateStatus] = {
    "APPROVED": TemplateStatus.APPROVED, "REINSTATED": TemplateStatus.APPROVED,
    "PENDING": TemplateStatus.PENDING, "IN_APPEAL": TemplateStatus.PENDING,
    "REJECTED": TemplateStatus.REJECTED,
    "PAUSED": TemplateStatus.PAUSED,
    "DISABLED": TemplateStatus.DISABLED, "PENDING_DELETION": TemplateStatus.DISABLED,
    "DELETED": TemplateStatus.DISABLED, "ARCHIVED": TemplateStatus.DISABLED,
    "LOCKED": TemplateStatus.DISABLED, "LIMIT_EXCEEDED": TemplateStatus.DISABLED,
}
# What makes a synced template "updated": any of these differs from the stored one.
COMPARED = ("meta_id", "waba_id", "category", "status", "components", "rejected_reason")


def status_of(meta_status: Any) -> TemplateStatus | None:
    """Meta's status or event name as Relay's status; None when it is not one Relay keeps."""
    return META_STATUSES.get(str(meta_status).upper()) if meta_status is not None else None


def rejected_reason(status: TemplateStatus, reason: Any) -> str | None:
    """Meta's ``reason``/``rejected_reason`` kept only for a rejection (Meta says ``NONE``
    otherwise)."""
    if status != TemplateStatus.REJECTED:
        return None
    text = str(reason).strip() if reason is not None else ""
    return text if text and text.upper() != "NONE" else "Rejected by WhatsApp"


def from_meta(
    item: Mapping[str, Any], *, account_id: str, user_id: str, waba_id: str,
    now: datetime | None = None,
) -> Template | None:
    """One element of Meta's ``GET /{waba-id}/message_templates`` ``data`` as a template;
    None when it has no name or language. A status Relay does not keep counts as DISABLED."""
    name, language = item.get("name"), item.get("language")
    if not isinstance(name, str) or not name or not isinstance(language, str) or not language:
        return None
    status = status_of(item.get("status")) or TemplateStatus.DISABLED
    components = [c for c in item.get("components") or [] if isinstance(c, dict)]
    return Template(
        _id=template_id(account_id, name, language), whatsapp_account_id=account_id,
        user_id=user_id, meta_id=str(item["id"]) if item.get("id") is not None else None,
        waba_id=waba_id, name=name, language=language,
        category=str(item["category"]).upper() if item.get("category") else None,
        status=status, components=components,
        rejected_reason=rejected_reason(status, item.get("rejected_reason")),
        updated_at=now or utcnow(),
    )


@dataclass(frozen=True)
class SyncCounts:
    """What one sync changed: templates new to Relay, changed, and gone from Meta."""

    added: int = 0
    updated: int = 0
    removed: int = 0


@dataclass(frozen=True)
class SyncPlan:
    """The writes that make the stored templates of an account equal Meta's list."""

    added: list[Template]
    updated: list[Template]
    removed: list[str]

    @property
    def counts(self) -> SyncCounts:
        return SyncCounts(len(self.added), len(self.updated), len(self.removed))


def plan_sync(stored: Sequence[Template], fetched: Sequence[Template]) -> SyncPlan:
    """Compare the account's stored templates with Meta's full list (by id: account, name,
    language). A template listed twice keeps its last entry."""
    have = {template.id: template for template in stored}
    want = {template.id: template for template in fetched}
    added = [t for key, t in want.items() if key not in have]
    updated = [t for key, t in want.items() if key in have and _differs(have[key], t)]
    removed = [key for key in have if key not in want]
    return SyncPlan(added, updated, removed)


def _differs(old: Template, new: Template) -> bool:
    return any(getattr(old, name) != getattr(new, name) for name in COMPARED)


class TemplateStore(Protocol):
    """The templates of every account."""

    async def find(self, account_id: str, name: str, language: str) -> Template | None:
        """The account's template ``name`` in ``language``, or None."""

    async def page(self, account_id: str, *, page: int, limit: int) -> tuple[list[Template], int]:
        """One page (from 1) of the account's templates by name then language, and the total."""

    async def sync(self, account_id: str, fetched: Sequence[Template]) -> SyncCounts:
        """Make the account's stored templates Meta's list ``fetched``: add the new, update the
        changed, remove those Meta no longer lists."""

    async def add(self, template: Template) -> bool:
        """Store a new template; False (nothing written) when the account has that name and
        language already."""

    async def discard(self, template_id: str) -> None:
        """Remove one template (a create Meta refused)."""

    async def set_meta_id(self, template_id: str, meta_id: str) -> Template | None:
        """Record Meta's id of a template; the template as stored now, or None if absent."""

    async def set_status(
        self, meta_id: str, status: TemplateStatus, reason: str | None = None
    ) -> int:
        """Move every stored copy of Meta's template ``meta_id`` (one per account of the WABA)
        to ``status`` with ``reason`` as ``rejectedReason``; how many were found."""

    async def set_status_by_name(
        self, waba_id: str, name: str, language: str, status: TemplateStatus,
        reason: str | None = None,
    ) -> int:
        """As :meth:`set_status`, finding the templates by WABA, name and language."""


CACHE_SECONDS = 1.0


class CachedTemplates:
    """A :class:`TemplateStore` whose ``find`` is cached ``ttl`` seconds (the accept path's
    read), so a status change made anywhere is seen within ``ttl``. Misses are never cached:
    a template created or synced a moment ago is found at once. Writes go through, and drop
    what this process cached of the templates they touch."""

    def __init__(self, store: TemplateStore, *, ttl: float = CACHE_SECONDS) -> None:
        self.store = store
        self._cache: TtlCache[tuple[str, str, str], Template] = TtlCache(ttl)

    async def find(self, account_id: str, name: str, language: str) -> Template | None:
        key = (account_id, name, language)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        found = await self.store.find(account_id, name, language)
        if found is not None:
            self._cache.put(key, found)
        return found

    async def page(self, account_id: str, *, page: int, limit: int) -> tuple[list[Template], int]:
        return await self.store.page(account_id, page=page, limit=limit)

    async def sync(self, account_id: str, fetched: Sequence[Template]) -> SyncCounts:
        counts = await self.store.sync(account_id, fetched)
        self._cache.clear()
        return counts

    async def add(self, template: Template) -> bool:
        return await self.store.add(template)

    async def discard(self, template_id: str) -> None:
        await self.store.discard(template_id)
        self._cache.clear()

    async def set_meta_id(self, template_id: str, meta_id: str) -> Template | None:
        return await self.store.set_meta_id(template_id, meta_id)

    async def set_status(
        self, meta_id: str, status: TemplateStatus, reason: str | None = None
    ) -> int:
        found = await self.store.set_status(meta_id, status, reason)
        self._cache.clear()
        return found

    async def set_status_by_name(
        self, waba_id: str, name: str, language: str, status: TemplateStatus,
        reason: str | None = None,
    ) -> int:
        found = await self.store.set_status_by_name(waba_id, name, language, status, reason)
        self._cache.clear()
        return found
