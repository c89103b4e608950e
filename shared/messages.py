"""The message, typed, and the port every service writes it through.

:class:`Message` is the stored message as Python sees it (camelCase in the database and on the
wire). :class:`MessageStore` is the only way services change messages: add, read, claim for a
send, move along the lifecycle, release a claim. ``shared.message_store.MongoMessageStore`` is
its adapter (the one place that knows the document shape, the claim and the embedded server's
workarounds); unit tests use an in-memory fake of it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.db import created_ms
from shared.models import Direction, MessageStatus, MessageType, as_utc, utcnow

Stamp = Annotated[datetime | None, BeforeValidator(as_utc)]
# Fields the API never shows and a writer that moves the message on always drops.
CLAIM_FIELDS = ("claimedBy", "claimedAt", "claimUntil", "claimToken")


def epoch_ms(at: datetime | float) -> int:
    """A time (a datetime, naive meaning UTC, or epoch seconds) as integer epoch milliseconds,
    rounded down: the form range filters and keyset cursors use (``shared.db.created_ms``)."""
    if isinstance(at, datetime):
        return created_ms(at if at.tzinfo else at.replace(tzinfo=UTC))
    return int(at * 1000)


class Message(BaseModel):
    """One message, outbound or inbound, with its delivery state and its bookkeeping."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow",
                              use_enum_values=True)

    id: str = Field(alias="_id")
    user_id: str
    whatsapp_account_id: str
    contact_id: str | None = None
    campaign_id: str | None = None
    direction: Direction
    type: MessageType
    content: str | None = None
    media_url: str | None = None
    media_id: str | None = None
    # The kind-specific parts, as the API takes and shows them (camelCase inside): ``template``
    # ({name, language, components}), ``interactive`` (Meta's object, or an inbound reply),
    # ``location``, ``reaction`` ({messageId, emoji}); ``raw``: an inbound kind Relay does not
    # model, as Meta sent it.
    template: dict[str, Any] | None = None
    interactive: dict[str, Any] | None = None
    location: dict[str, Any] | None = None
    reaction: dict[str, Any] | None = None
    raw: dict[str, Any] | None = None
    whatsapp_message_id: str | None = None
    status: MessageStatus
    previous_status: MessageStatus | None = None
    error_message: str | None = None
    last_error: str | None = None
    scheduled_for: Stamp = None
    sent_at: Stamp = None
    delivered_at: Stamp = None
    read_at: Stamp = None
    is_from_bot: bool = False
    created_at: Stamp = None
    created_ms: int | None = None
    updated_at: Stamp = None
    status_changed_at: Stamp = None
    to: str | None = None
    attempts: int = 0
    version: int = 1
    event_pending: bool | None = None
    dispatched: bool | None = None
    idempotency_key: str | None = None
    claimed_by: str | None = None
    claimed_at: Stamp = None
    claim_until: int | None = None
    attempted_at: Stamp = None
    attempted_ms: int | None = None
    # The words a search finds the message by (``shared.search``), set by the message store.
    search_text: str | None = None

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Message:
        return cls.model_validate(doc)

    def to_doc(self) -> dict[str, Any]:
        """The stored document (nulls included, as the API lists every field)."""
        return self.model_dump(by_alias=True)

    @property
    def scheduled_seconds(self) -> float | None:
        return self.scheduled_for.timestamp() if self.scheduled_for else None


def new_outbound(
    *, user_id: str, account_id: str, contact_id: str, to: str, type: MessageType,
    content: str | None = None, media_url: str | None = None, media_id: str | None = None,
    scheduled_for: datetime | None = None, campaign_id: str | None = None,
    idempotency_key: str | None = None, via: str | None = None, now: datetime | None = None,
    template: dict[str, Any] | None = None, interactive: dict[str, Any] | None = None,
    location: dict[str, Any] | None = None, reaction: dict[str, Any] | None = None,
) -> Message:
    """A freshly accepted outbound message: ``Queued``, version 1, its event pending, unclaimed.

    The kind's part (``template``, ``interactive``, ``location``, ``reaction``) as checked by
    the accept path; a reaction keeps the reacted message's ``whatsappMessageId`` beside its
    ``messageId`` and ``emoji``, so the sender needs no extra read."""
    now = now or utcnow()
    extra = {"via": via} if via else {}
    return Message(
        _id=str(uuid.uuid4()), user_id=user_id, whatsapp_account_id=account_id,
        contact_id=contact_id, campaign_id=campaign_id, direction=Direction.OUTBOUND, type=type,
        content=content, media_url=media_url, media_id=media_id, template=template,
        interactive=interactive, location=location, reaction=reaction, status=MessageStatus.QUEUED,
        scheduled_for=scheduled_for, created_at=now, created_ms=epoch_ms(now), updated_at=now,
        status_changed_at=now, to=to, event_pending=True, dispatched=False,
        idempotency_key=idempotency_key, claim_until=0, **extra,
    )


class VersionConflict(Exception):
    """The message changed since it was read; read it again and decide again."""


class MessageStore(Protocol):
    """Messages as every service changes them; each call is one atomic change of one message.

    Concurrent calls of one kind share a batched round trip in the MongoDB adapter.
    """

    async def add(self, message: Message, *, contact_name: str | None = None) -> None:
        """Store a new message; ``DuplicateKeyError`` if its id or ``wamid`` exists. Its
        ``searchText`` is written from its content, ``contact_name`` and the phone."""

    async def rename_contact(self, user_id: str, contact_id: str, name: str | None) -> int:
        """Rewrite the ``searchText`` of the contact's messages for its new ``name``, so a
        search finds them by the name the contact has now; how many were rewritten."""

    async def get(self, message_id: str) -> Message | None:
        """The message as stored now, or None."""

    async def claim(
        self, message_id: str, *, owner: str, now: float, lease_seconds: float
    ) -> Message | None:
        """Take a ``Queued`` message at ``now`` (epoch s) for one send attempt, counted in
        ``attempts``; None when it is not Queued or another owner's claim is not yet past its
        lease."""

    async def move(
        self, message: Message, target: MessageStatus, *, fields: Mapping[str, Any] | None = None,
        retry: bool = False, drop_claim: bool = False,
    ) -> Message | None:
        """Move ``message`` (as last read) to ``target`` with ``fields`` (stored names) set.

        None when the lifecycle forbids it (nothing written); :class:`VersionConflict` when
        another writer changed the message first. The result has ``eventPending`` set.
        """

    async def release(
        self, message: Message, *, owner: str, reason: str, at: datetime,
        unit_day: str | None = None,
    ) -> None:
        """Give back ``owner``'s claim after a retryable error (still Queued); ``unit_day``
        records the send day whose daily unit the message already holds (``unitDay``)."""

    async def annotate(
        self, message_id: str, fields: Mapping[str, Any], *, drop_claim: bool = False
    ) -> Message | None:
        """Set bookkeeping ``fields`` whatever the status (and drop the claim); the message as
        it was before, or None if absent. Never a status change."""

    async def stamp(self, message: Message, field: str, when: datetime) -> Message:
        """Set the delivery timestamp ``field`` (``sentAt``, ``deliveredAt``, ``readAt``) of
        ``message`` as last read, without a status change (a late webhook's own time);
        :class:`VersionConflict` when the message changed first."""

    async def fill(self, message_id: str, field: str, when: datetime) -> bool:
        """Set the timestamp ``field`` to ``when`` only while it is empty (an earlier status
        implied by a later one); True when written. A real earlier time is never replaced."""

    async def mark(self, message_ids: list[str], fields: Mapping[str, Any]) -> None:
        """Set bookkeeping ``fields`` (never the status) on several messages in one write."""

    async def by_wamid(self, wamids: list[str]) -> dict[str, Message]:
        """The messages with these WhatsApp message ids, by wamid (absent ones left out)."""

    async def recent_attempts(self, account_id: str, *, now: float, window: float) -> list[float]:
        """Send attempts of the account that still count in a window of ``window`` seconds
        before ``now``, as completion times (epoch s), conservatively: a message keeps only its
        last attempt time, so all its ``attempts`` count then; live claims count as ``now``."""


def transition_change(
    message: Message, target: MessageStatus, *, fields: Mapping[str, Any] | None = None,
    retry: bool = False,
) -> dict[str, Any] | None:
    """The ``$set`` of moving ``message`` to ``target``, or None if the lifecycle forbids it."""
    from shared.models import can_transition

    current = MessageStatus(message.status)
    if not can_transition(current, target, retry=retry):
        return None
    now = utcnow()
    changed: dict[str, Any] = {"statusChangedAt": now, **(fields or {})}
    # Each time the sweep and pacing filter on is also kept as a number (docs/DEVIATIONS.md).
    for stamp, ms in (("statusChangedAt", "statusChangedMs"), ("attemptedAt", "attemptedMs")):
        if isinstance(changed.get(stamp), datetime):
            changed[ms] = epoch_ms(changed[stamp])
    return {
        **changed,
        "status": target.value, "previousStatus": current.value, "version": message.version + 1,
        "updatedAt": now, "eventPending": True,
    }


def applied(message: Message, changes: Mapping[str, Any], unset: tuple[str, ...] = ()) -> Message:
    """``message`` with ``changes`` applied and ``unset`` removed, as the database now holds it."""
    doc = {k: v for k, v in message.to_doc().items() if k not in unset}
    doc.update(changes)
    return Message.from_doc(doc)


def searchable(message: Message, contact_name: str | None = None) -> Message:
    """``message`` with its ``searchText`` (``shared.search``): content, ``contact_name`` and
    the contact's phone (``to`` of an outbound message, ``from`` of an inbound one)."""
    from shared.search import search_text

    if message.search_text is not None:
        return message
    phone = message.to or (message.model_extra or {}).get("from")
    text = search_text(message.content, contact_name, phone if isinstance(phone, str) else None)
    return message.model_copy(update={"search_text": text})


def now_ms() -> int:
    return int(time.time() * 1000)


def as_datetime(at: float) -> datetime:
    """Epoch seconds as an aware datetime in MongoDB's millisecond precision."""
    value = datetime.fromtimestamp(at, UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)
