"""Ingest's handlers, by the type of webhook item they apply: the whole service at a glance."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ingest.context import Context
from ingest.handlers import errors, messages, statuses, templates
from ingest.parse import (
    InboundMessage,
    Malformed,
    StatusUpdate,
    TemplateStatusChange,
    WebhookError,
)

Handler = Callable[[list[Any], Context], Awaitable[None]]

HANDLERS: dict[type, Handler] = {
    InboundMessage: messages.apply,
    StatusUpdate: statuses.apply,
    WebhookError: errors.apply,
    Malformed: errors.malformed,
    TemplateStatusChange: templates.apply,
}
# Items that need a known account before they are applied.
NEEDS_ACCOUNT = (InboundMessage, StatusUpdate)
