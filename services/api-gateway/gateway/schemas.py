"""Response models of the messages, accounts and contacts routes (for the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.models import AccountStatus, Direction, MessageStatus, MessageType
from shared.templates import TemplateStatus


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
    template: dict[str, Any] | None = Field(None, description=(
        "Template: `{name, language, components}` as sent."))
    interactive: dict[str, Any] | None = Field(None, description=(
        "Interactive: Meta's `interactive` object as sent; inbound, the reply: "
        "`{type: button_reply|list_reply, id, title, description?}`, "
        "`{type: button, text, payload}` (a template's quick reply) or "
        "`{type: nfm_reply, name, body, responseJson}`."))
    location: dict[str, Any] | None = Field(None, description=(
        "Location: `{latitude, longitude, name, address}`."))
    reaction: dict[str, Any] | None = Field(None, description=(
        "Reaction: `{messageId, emoji, whatsappMessageId}`; `messageId` is Relay's id of the "
        "message reacted to (null for an inbound reaction to a message Relay does not know); "
        "an empty `emoji` removes a reaction."))
    raw: dict[str, Any] | None = Field(None, description=(
        "Unsupported (inbound only): Meta's whole message object, as WhatsApp sent it."))
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
    waba_id: str | None = Field(None, description=(
        "The WhatsApp Business Account id, needed for templates; set it with PATCH."))
    enforce_customer_window: bool = Field(True, description=(
        "Whether non-template sends need the contact's 24-hour window open (default true)."))
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
    last_inbound_at: datetime | None = Field(None, description=(
        "When the contact last wrote (the newest inbound message's WhatsApp time); null when "
        "it never wrote."))
    window_expires_at: datetime | None = Field(None, description=(
        "`lastInboundAt` + 24 h: until then the 24-hour customer service window is open and "
        "any message type may be sent; after it only templates. Null when it never wrote."))
    created_at: datetime
    updated_at: datetime


class ContactList(Page):
    contacts: list[ContactOut]


class TemplateOut(Out):
    """A message template of one account, as WhatsApp approved (or not) it."""

    id: str = Field(description="Relay's id: <accountId>:<name>:<language>.")
    name: str
    language: str = Field(description="e.g. `en_US`.")
    category: str | None = Field(None, description="MARKETING, UTILITY or AUTHENTICATION.")
    status: TemplateStatus = Field(description=(
        "APPROVED, PENDING, REJECTED, PAUSED or DISABLED; Meta's status webhooks move it."))
    components: list[dict[str, Any]] = Field(description="Meta's components, as Meta has them.")
    rejected_reason: str | None = Field(None, description="Why Meta rejected it, if it did.")
    updated_at: datetime | None = None


class TemplateList(Page):
    templates: list[TemplateOut]


class SyncOut(Out):
    """What a sync from Meta changed."""

    added: int = Field(description="Templates Relay did not have.")
    updated: int = Field(description="Templates whose status, category or components changed.")
    removed: int = Field(description="Templates Meta no longer lists.")
