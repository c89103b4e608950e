"""The ``POST /messages`` body (also the broker intake's), the kind-specific parts of a send
(``template``, ``interactive``, ``location``, ``reaction``) and which parts each ``type`` takes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import AwareDatetime, Field, field_validator, model_validator

from gateway.parsing import Body
from shared.message_parts import check_emoji, check_interactive
from shared.models import MessageType, utcnow
from shared.template_render import check_shape

LANGUAGE_PATTERN = r"^[a-z]{2,3}(_[A-Za-z0-9]{2,8})?$"
# The part each type requires; every other part is refused by name.
PART_OF: dict[MessageType, str] = {
    MessageType.TEMPLATE: "template", MessageType.INTERACTIVE: "interactive",
    MessageType.LOCATION: "location", MessageType.REACTION: "reaction",
}
PARTS = ("template", "interactive", "location", "reaction")


class TemplatePart(Body):
    """Which approved template to send, and its parameters."""

    name: str = Field(min_length=1, max_length=512, description="The template's name.")
    language: str = Field(pattern=LANGUAGE_PATTERN,
                          description="The template's language code, e.g. en_US.")
    components: list[dict[str, Any]] = Field(
        default_factory=list,
        description=("Meta's send components, exactly as the Cloud API takes them: `header`, "
                     "`body` and `button` objects with `parameters` "
                     "(e.g. `{\"type\": \"body\", \"parameters\": [{\"type\": \"text\", "
                     "\"text\": \"Ada\"}]}`)."))

    @field_validator("components")
    @classmethod
    def _meta_shape(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        check_shape(value)
        return value


class LocationPart(Body):
    """A point on the map."""

    latitude: float = Field(ge=-90, le=90, strict=True, allow_inf_nan=False,
                            description="Degrees, -90 to 90.")
    longitude: float = Field(ge=-180, le=180, strict=True, allow_inf_nan=False,
                             description="Degrees, -180 to 180.")
    name: str | None = Field(None, max_length=1000, description="The place's name.")
    address: str | None = Field(None, max_length=1000, description="The place's address.")


class ReactionPart(Body):
    """An emoji reaction to an earlier message of the same conversation."""

    message_id: str = Field(min_length=1, max_length=100, description=(
        "Relay's id of the message reacted to (yours, same account, already on WhatsApp)."))
    emoji: str = Field(max_length=40, description="One emoji; an empty string removes it.")

    @field_validator("emoji")
    @classmethod
    def _one_emoji(cls, value: str) -> str:
        check_emoji(value)
        return value


def interactive_checked(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """``interactive`` as Meta takes it, or ``ValueError`` naming the place."""
    if value is not None:
        check_interactive(value)
    return value


def check_parts(kind: MessageType, given: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the field when the parts do not fit ``kind``: the kind's own
    part is required, any other part (and ``content``/media where derived) is refused."""
    if kind == MessageType.UNSUPPORTED:
        raise ValueError("type Unsupported is for inbound messages only")
    own = PART_OF.get(kind)
    for part in PARTS:
        if part != own and given.get(part) is not None:
            raise ValueError(f"{part} is only for {part.capitalize()} messages, not {kind}")
    if own is None:
        return
    if given.get(own) is None:
        raise ValueError(f"{own} is required for {kind} messages")
    for field in ("content", "mediaUrl", "mediaId"):
        if given.get(field) is not None:
            raise ValueError(f"{field} is not taken by {kind} messages (Relay derives the "
                             "content from the message itself)")


E164 = re.compile(r"^\+[1-9]\d{6,14}$")
E164_MESSAGE = "Phone number must be in E.164 format"
TEXT_MAX = 4096
CAPTION_MAX = 1024


class SendMessageBody(Body):
    """``POST /api/v1/messages``: what to send, to whom, through which account."""

    whatsapp_account_id: str = Field(min_length=1, max_length=100,
                                     description="Sending account (yours, Connected).")
    to: str = Field(description="Recipient in E.164, e.g. +15551234567.")
    type: MessageType = Field(description=(
        "Text, Image, Video, Audio, Document, Template, Interactive, Location or Reaction."))
    content: str | None = Field(None, description=(
        "Text body (required for Text) or caption; not taken by the other kinds, whose "
        "content Relay derives (rendered template body, interactive body, place, emoji)."))
    media_url: str | None = Field(None, max_length=2048, description="https URL of the media.")
    media_id: str | None = Field(None, max_length=100, description="Id from POST /media.")
    scheduled_for: AwareDatetime | None = Field(
        None, description="Send at this future time (ISO-8601 with a timezone)."
    )
    campaign_id: str | None = Field(None, max_length=200, description="Free-form campaign id.")
    template: TemplatePart | None = Field(None, description="For Template: which template.")
    interactive: dict[str, Any] | None = Field(None, description=(
        "For Interactive: Meta's `interactive` object, reply `button` (≤3 buttons, titles ≤20, "
        "unique ids) or `list` (`action.button`, sections of ≤10 rows in all, titles ≤24); "
        "`body.text` required (≤1024)."))
    location: LocationPart | None = Field(None, description="For Location: the place.")
    reaction: ReactionPart | None = Field(None, description="For Reaction: message and emoji.")

    @field_validator("to")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not E164.match(value):
            raise ValueError(E164_MESSAGE)
        return value

    @field_validator("media_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("mediaUrl must be an https:// URL")
        return value

    @field_validator("scheduled_for")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= utcnow():
            raise ValueError("scheduledFor must be in the future")
        return value

    @field_validator("interactive")
    @classmethod
    def _interactive(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return interactive_checked(value)

    @model_validator(mode="after")
    def _content_rules(self) -> SendMessageBody:
        check_parts(self.type, self.model_dump(by_alias=True, include={
            "content", "media_url", "media_id", *PARTS}))
        if self.type in PART_OF:
            return self
        if self.type == MessageType.TEXT:
            if not self.content or not self.content.strip():
                raise ValueError("content is required for Text messages")
            if len(self.content) > TEXT_MAX:
                raise ValueError(f"content must be at most {TEXT_MAX} characters")
            if self.media_url or self.media_id:
                raise ValueError("mediaUrl and mediaId are only for media messages")
            return self
        if (self.media_url is None) == (self.media_id is None):
            raise ValueError(f"{self.type} messages need exactly one of mediaUrl or mediaId")
        if self.content is not None and len(self.content) > CAPTION_MAX:
            raise ValueError(f"a caption (content) must be at most {CAPTION_MAX} characters")
        return self
