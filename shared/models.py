"""The message lifecycle, and the commands and events that travel over RabbitMQ.

Commands are imperatives (:class:`SendMessage`), events are past tense (:class:`MessageEvent`
with ``type`` ``message.sent`` …). Every model is JSON with camelCase field names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, truncated to milliseconds (MongoDB's precision)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: object) -> object:
    """A stored timestamp as an aware UTC datetime; other values unchanged.

    The embedded server stores a datetime written by an update operator as the string
    ``YYYY-MM-DD HH:MM:SS.ffffff`` (docs/DEVIATIONS.md); this reads both shapes back the same.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] in " T":
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


class MessageStatus(StrEnum):
    QUEUED = "Queued"
    SENT = "Sent"
    DELIVERED = "Delivered"
    READ = "Read"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class Direction(StrEnum):
    INBOUND = "Inbound"
    OUTBOUND = "Outbound"


class MessageType(StrEnum):
    TEXT = "Text"
    IMAGE = "Image"
    VIDEO = "Video"
    AUDIO = "Audio"
    DOCUMENT = "Document"
    TEMPLATE = "Template"
    INTERACTIVE = "Interactive"
    LOCATION = "Location"
    REACTION = "Reaction"
    UNSUPPORTED = "Unsupported"  # inbound only: a kind Relay does not model, Meta's payload in raw


class AccountStatus(StrEnum):
    CONNECTED = "Connected"
    DISCONNECTED = "Disconnected"


# Delivery progress only moves up this ladder; Failed and Cancelled end it.
STATUS_RANK: dict[MessageStatus, int] = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
}
TERMINAL = frozenset({MessageStatus.FAILED, MessageStatus.CANCELLED})


def can_transition(current: MessageStatus, target: MessageStatus, *, retry: bool = False) -> bool:
    """Whether ``current → target`` is allowed: forward only; Failed is left only by a retry."""
    if retry:
        return current == MessageStatus.FAILED and target == MessageStatus.QUEUED
    if current in TERMINAL:
        return False
    if target == MessageStatus.CANCELLED:
        return current == MessageStatus.QUEUED
    if target == MessageStatus.FAILED:
        return current != MessageStatus.READ
    return STATUS_RANK[target] > STATUS_RANK[current]


class Model(BaseModel):
    """Base for wire models: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class SendMessage(Model):
    """Internal command on ``relay.send.<shard>``: send the stored message ``message_id``."""

    kind: Literal["send"] = "send"
    message_id: str = Field(description="The message to send; its document holds the rest.")
    whatsapp_account_id: str = Field(description="Owner of the pacing bucket (shard key).")
    user_id: str = Field(description="Tenant that owns the message.")


class MarkRead(Model):
    """Internal command: tell WhatsApp that the inbound message was read."""

    kind: Literal["mark_read"] = "mark_read"
    message_id: str = Field(description="Relay's id of the inbound message.")
    whatsapp_account_id: str = Field(description="Account that received it (shard key).")
    whatsapp_message_id: str = Field(description="The `wamid.` of the inbound message.")


SenderCommand = SendMessage | MarkRead


class SendMessageRequest(Model):
    """Command other services publish on ``relay.commands`` with routing key ``message.send``.

    The body of ``POST /api/v1/messages`` plus who asks and an idempotency key.
    """

    user_id: str = Field(description="The Relay user on whose behalf the message is sent.")
    idempotency_key: str = Field(
        min_length=1, max_length=200, description="Same key, same message: redelivery is safe."
    )
    whatsapp_account_id: str = Field(description="Sending account; must belong to the user.")
    to: str = Field(description="Recipient in E.164, e.g. +15551234567.")
    type: MessageType = Field(description=(
        "Text, Image, Video, Audio, Document, Template, Interactive, Location or Reaction."))
    content: str | None = Field(None, description="Text body, or the caption of media.")
    media_url: str | None = Field(None, description="https URL of the media.")
    media_id: str | None = Field(None, description="Id returned by POST /api/v1/media.")
    scheduled_for: datetime | None = Field(None, description="Send at this future time.")
    campaign_id: str | None = Field(None, description="Free-form campaign id.")
    template: dict[str, Any] | None = Field(None, description=(
        "For Template: {name, language (e.g. en_US), components (Meta's send components)}."))
    interactive: dict[str, Any] | None = Field(None, description=(
        "For Interactive: Meta's `interactive` object (reply `button` or `list`)."))
    location: dict[str, Any] | None = Field(None, description=(
        "For Location: {latitude, longitude, name?, address?}."))
    reaction: dict[str, Any] | None = Field(None, description=(
        "For Reaction: {messageId (Relay's id of the message reacted to), emoji}."))


EVENT_TYPES: dict[MessageStatus, str] = {
    MessageStatus.QUEUED: "message.queued",
    MessageStatus.SENT: "message.sent",
    MessageStatus.DELIVERED: "message.delivered",
    MessageStatus.READ: "message.read",
    MessageStatus.FAILED: "message.failed",
    MessageStatus.CANCELLED: "message.cancelled",
}
EventType = Literal[
    "message.queued",
    "message.sent",
    "message.delivered",
    "message.read",
    "message.failed",
    "message.received",
    "message.cancelled",
    "message.rejected",
]


class MessageEvent(Model):
    """An event on ``relay.events``: one state change of one message, published once or more.

    ``event_id`` is deterministic (``<messageId>:<version>``), so subscribers dedupe on it.
    The outbox publishes every field, nulls included (so the schema lists them all as required).
    """

    model_config = ConfigDict(
        **Model.model_config, json_schema_serialization_defaults_required=True
    )

    event_id: str = Field(description="Unique per state change; the same on every redelivery.")
    type: EventType = Field(description="Routing key, e.g. message.sent.")
    occurred_at: datetime = Field(description="When the change happened (UTC).")
    # Nullable fields default to None so that a publisher omitting nulls is still readable.
    message_id: str | None = Field(None, description="Relay's message id (null when rejected).")
    user_id: str | None = Field(None, description="Owning tenant.")
    whatsapp_account_id: str | None = Field(None, description="Account that sends or receives.")
    direction: Direction | None = Field(None, description="Inbound or Outbound.")
    message_type: MessageType | None = Field(None, description="Text, Image, …")
    status: MessageStatus | None = Field(None, description="Status after the change.")
    previous_status: MessageStatus | None = Field(None, description="Status before (null if new).")
    version: int = Field(0, description="The message's version after the change.")
    contact_id: str | None = Field(None, description="Contact of the message.")
    whatsapp_message_id: str | None = Field(None, description="The `wamid.` once known.")
    error_message: str | None = Field(None, description="Why it failed or was refused.")
    reason: str | None = Field(None, description="For message.rejected: what was wrong.")
    idempotency_key: str | None = Field(
        None, description="The idempotency key the message was sent with (commands, HTTP)."
    )


def event_from_message(doc: dict[str, Any]) -> MessageEvent:
    """The event of a message document's latest state change (its ``version``)."""
    status = MessageStatus(doc["status"])
    previous = doc.get("previousStatus")
    inbound = doc["direction"] == Direction.INBOUND
    kind = "message.received" if inbound and previous is None else EVENT_TYPES[status]
    return MessageEvent(
        event_id=f"{doc['_id']}:{doc['version']}",
        type=kind,
        occurred_at=as_utc(doc.get("statusChangedAt") or doc["updatedAt"]),
        message_id=doc["_id"],
        user_id=doc["userId"],
        whatsapp_account_id=doc["whatsappAccountId"],
        direction=Direction(doc["direction"]),
        message_type=MessageType(doc["type"]),
        status=status,
        previous_status=MessageStatus(previous) if previous else None,
        version=doc["version"],
        contact_id=doc.get("contactId"),
        whatsapp_message_id=doc.get("whatsappMessageId"),
        error_message=doc.get("errorMessage"),
        idempotency_key=doc.get("idempotencyKey"),
    )
