"""Response models of the messages, accounts and contacts routes (for the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.models import AccountStatus, Direction, MessageStatus, MessageType


class Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class MessageOut(Out):
    """A message."""

    id: str = Field(description="Relay's message id.")
    user_id: str
    whatsapp_account_id: str
    contact_id: str
    campaign_id: str | None = None
    direction: Direction
    type: MessageType
    content: str | None = Field(None, description="Text body or caption.")
    media_url: str | None = None
    media_id: str | None = None
    whatsapp_message_id: str | None = Field(None, description="The `wamid.` once sent.")
    status: MessageStatus
    error_message: str | None = None
    scheduled_for: datetime | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    is_from_bot: bool = False
    created_at: datetime
    updated_at: datetime
    to: str | None = Field(None, description="Recipient (outbound), E.164.")
    from_: str | None = Field(None, alias="from", description="Sender (inbound), E.164.")
    attempts: int = Field(0, description="Send attempts so far.")


class Page(Out):
    total: int
    page: int
    limit: int
    total_pages: int


class CursorPage(Page):
    """A page of a list read by keyset: pass ``nextCursor`` as ``cursor`` for the next one."""

    total: int = Field(description=(
        "Matches of the filter. Exact below 10,000; at or above, from the statistics counters "
        "(a few milliseconds behind) when they count the filter, else 10,000 meaning "
        "\"10,000 or more\" (docs/API.md)."))
    page: int = Field(description="This page's number, also when it was reached by `cursor`.")
    next_cursor: str | None = Field(description=(
        "Opaque: send it as `cursor` (without `page`) for the next page; null on the last page."))


class MessageList(CursorPage):
    messages: list[MessageOut]


class AccountOut(Out):
    """A WhatsApp Business phone number; the access token is never returned."""

    id: str
    user_id: str
    name: str
    phone_number_id: str
    display_phone_number: str
    daily_limit: int
    rate_per_minute: int
    status: AccountStatus
    last_error: str | None = Field(None, description="Why it is Disconnected, if it is.")
    created_at: datetime
    updated_at: datetime


class AccountList(Page):
    accounts: list[AccountOut]


class ContactOut(Out):
    """Someone an account has messaged or heard from."""

    id: str
    user_id: str
    whatsapp_account_id: str
    phone: str
    name: str | None = None
    unread_count: int
    total_messages: int
    last_message_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class ContactList(Page):
    contacts: list[ContactOut]
