"""Pure parsing of Meta's webhook payloads into typed items; no I/O.

One POST may carry many entries, each with many changes, each ``value`` with ``messages[]``,
``statuses[]``, ``contacts[]`` and ``errors[]``: :func:`parse_payload` walks all of them. A payload
whose outer shape is wrong raises :class:`PayloadError` (poison); a single malformed item is
returned as a :class:`Malformed` so the rest of the batch still applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingest.mapping import NOT_FROM_USER, map_message
from shared.models import MessageType

STATUS_NAMES = ("sent", "delivered", "read", "failed")


class PayloadError(ValueError):
    """The payload is not a WhatsApp webhook at all (wrong outer shape)."""


@dataclass(frozen=True)
class InboundMessage:
    """One ``messages[]`` item, with the sender's profile name from ``contacts[]``."""

    phone_number_id: str
    wamid: str
    wa_id: str
    timestamp: datetime
    whatsapp_type: str
    message_type: MessageType
    content: str | None
    media_id: str | None = None
    profile_name: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)
    # The kind-specific part as stored (``ingest.mapping.Mapped.parts``): ``interactive``,
    # ``location``, ``reaction`` or, for a kind Relay does not model, ``raw``.
    parts: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def opens_window(self) -> bool:
        """Whether the user wrote it (WhatsApp's own notifications open no customer window)."""
        return self.whatsapp_type not in NOT_FROM_USER

    @property
    def phone(self) -> str:
        """The sender in E.164."""
        return "+" + self.wa_id.lstrip("+")

    @property
    def kind(self) -> str:
        return "message"


@dataclass(frozen=True)
class StatusUpdate:
    """One ``statuses[]`` item: ``status`` is sent, delivered, read or failed."""

    phone_number_id: str
    wamid: str
    status: str
    timestamp: datetime
    recipient_id: str | None = None
    error_message: str | None = None
    # ``biz_opaque_callback_data`` as the sender set it: the Relay message id. It finds the
    # message when the sender never recorded this ``wamid`` (it died, or its call timed out).
    callback: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def kind(self) -> str:
        return "status"


@dataclass(frozen=True)
class WebhookError:
    """One ``value.errors[]`` item: Meta could not deliver something to us."""

    phone_number_id: str | None
    code: int | None
    text: str

    @property
    def kind(self) -> str:
        return "error"


@dataclass(frozen=True)
class Malformed:
    """An item that could not be read; counted and logged, never applied."""

    phone_number_id: str | None
    item_kind: str
    reason: str

    @property
    def kind(self) -> str:
        return self.item_kind


@dataclass(frozen=True)
class TemplateStatusChange:
    """One ``message_template_status_update`` change: Meta moved a template of the WABA
    ``waba_id`` (the entry's id) to ``event`` (APPROVED, REJECTED, PAUSED, DISABLED, ...)."""

    waba_id: str | None
    event: str
    meta_id: str | None
    name: str | None
    language: str | None
    reason: str | None = None

    @property
    def kind(self) -> str:
        return "template_status"


TEMPLATE_STATUS_FIELD = "message_template_status_update"
Item = InboundMessage | StatusUpdate | WebhookError | Malformed | TemplateStatusChange


def parse_payload(payload: Any) -> list[Item]:
    """Every item of every entry and change, in payload order."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise PayloadError("a webhook payload is an object with an `entry` list")
    items: list[Item] = []
    for entry in payload["entry"]:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise PayloadError("every entry needs a `changes` list")
        for change in changes:
            value = change.get("value") if isinstance(change, dict) else None
            if isinstance(value, dict) and change.get("field") == TEMPLATE_STATUS_FIELD:
                items.append(template_status(entry.get("id"), value))
            elif isinstance(value, dict):
                items.extend(parse_value(value))
    return items


def parse_value(value: dict[str, Any]) -> list[Item]:
    """The items of one ``changes[].value``."""
    metadata = value.get("metadata")
    pnid = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    pnid = str(pnid) if pnid is not None else None
    names = _profile_names(value.get("contacts"))
    items: list[Item] = []
    for raw in _list(value.get("messages")):
        items.append(_message(pnid, raw, names))
    for raw in _list(value.get("statuses")):
        items.append(_status(pnid, raw))
    for raw in _list(value.get("errors")):
        items.append(WebhookError(pnid, _int(raw.get("code")), error_text(raw)))
    return items


def template_status(waba_id: Any, value: dict[str, Any]) -> Item:
    """A ``message_template_status_update`` value; Malformed without an event or a way to
    find the template (Meta's id, or name and language)."""
    event, meta_id = value.get("event"), value.get("message_template_id")
    name, language = value.get("message_template_name"), value.get("message_template_language")
    if not isinstance(event, str) or not event or (meta_id is None and not (name and language)):
        return Malformed(None, "template_status",
                         "a template status needs an event and the template's id or name")
    return TemplateStatusChange(
        waba_id=str(waba_id) if waba_id is not None else None, event=event.upper(),
        meta_id=str(meta_id) if meta_id is not None else None,
        name=str(name) if name else None, language=str(language) if language else None,
        reason=str(value["reason"]) if value.get("reason") is not None else None,
    )


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _profile_names(contacts: Any) -> dict[str, str]:
    names: dict[str, str] = {}
    for contact in _list(contacts):
        profile = contact.get("profile")
        name = profile.get("name") if isinstance(profile, dict) else None
        if contact.get("wa_id") and isinstance(name, str) and name.strip():
            names[str(contact["wa_id"])] = name.strip()
    return names


def _message(pnid: str | None, raw: dict[str, Any], names: dict[str, str]) -> Item:
    wamid, sender, when = raw.get("id"), raw.get("from"), timestamp_of(raw.get("timestamp"))
    if pnid is None or not isinstance(wamid, str) or not wamid or not sender or when is None:
        return Malformed(pnid, "message", "a message needs metadata, id, from and timestamp")
    mapped = map_message(raw)
    return InboundMessage(
        phone_number_id=pnid, wamid=wamid, wa_id=str(sender), timestamp=when,
        whatsapp_type=mapped.whatsapp_type, message_type=mapped.message_type,
        content=mapped.content, media_id=mapped.media_id,
        profile_name=names.get(str(sender)), raw=raw, parts=mapped.parts,
    )


def _status(pnid: str | None, raw: dict[str, Any]) -> Item:
    wamid, status, when = raw.get("id"), raw.get("status"), timestamp_of(raw.get("timestamp"))
    if pnid is None or not isinstance(wamid, str) or not wamid or when is None:
        return Malformed(pnid, "status", "a status needs metadata, id and timestamp")
    if status not in STATUS_NAMES:
        return Malformed(pnid, "status", f"unknown status {str(status)[:40]!r}")
    errors = _list(raw.get("errors"))
    error = error_text(errors[0]) if errors else None
    if status == "failed" and error is None:
        error = "WhatsApp reported the message as failed without details"
    return StatusUpdate(
        phone_number_id=pnid, wamid=wamid, status=status, timestamp=when,
        recipient_id=str(raw["recipient_id"]) if raw.get("recipient_id") else None,
        error_message=error, callback=_callback(raw.get("biz_opaque_callback_data")), raw=raw,
    )


def _callback(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 512 else None


def error_text(error: dict[str, Any]) -> str:
    """``(<code>) <title>: <details>`` from a webhook error object."""
    code = error.get("code")
    title = str(error.get("title") or error.get("message") or "Unknown error")
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    text = f"({code}) {title}" if code is not None else title
    return (f"{text}: {details}" if details else text)[:1000]


def timestamp_of(value: Any) -> datetime | None:
    """A webhook timestamp (a string of Unix seconds) as aware UTC, or None if unreadable."""
    try:
        seconds = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    if seconds <= 0 or seconds > 32_503_680_000:  # year 3000
        return None
    return datetime.fromtimestamp(seconds, UTC)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
