"""Message templates: the typed template and the port every service reads and writes them through.

A template belongs to one WhatsApp account (its WABA) and is identified there by ``name`` and
``language``. :class:`TemplateStore` is the port (the MongoDB adapter and an in-memory fake
implement it, as ``stats`` does for its projection); the gateway checks template sends against
it, the registry endpoints and ingest's ``message_template_status_update`` keep it current.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.models import as_utc


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
    name: str
    language: str
    category: str | None = None
    status: TemplateStatus
    components: list[dict[str, Any]] = Field(default_factory=list)
    rejected_reason: str | None = None
    updated_at: Annotated[datetime | None, BeforeValidator(as_utc)] = None


def template_id(account_id: str, name: str, language: str) -> str:
    return f"{account_id}:{name}:{language}"


class TemplateStore(Protocol):
    """The templates of every account."""

    async def find(self, account_id: str, name: str, language: str) -> Template | None:
        """The account's template ``name`` in ``language``, or None."""
