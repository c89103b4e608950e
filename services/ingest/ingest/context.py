"""What every handler is given: the database, the outbox, the batch's accounts, and callbacks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ingest.media import MediaFetcher
from ingest.metrics import IngestMetrics
from ingest.parse import InboundMessage, StatusUpdate
from shared.db import Database
from shared.messages import MessageStore
from shared.store import EventOutbox
from shared.templates import TemplateStore

RetryLater = Callable[[StatusUpdate], Awaitable[None]]
RetryMessage = Callable[[InboundMessage], Awaitable[None]]


@dataclass
class Context:
    """One inbox delivery's dependencies; ``accounts`` maps phone_number_id to account docs."""

    db: Database
    messages: MessageStore
    outbox: EventOutbox
    metrics: IngestMetrics
    media: MediaFetcher
    retry_later: RetryLater
    retry_message: RetryMessage
    media_retry_allowed: bool = False
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    templates: TemplateStore | None = None  # None: the MongoDB store over ``db``
