"""``value.errors[]`` (Meta could not deliver something to us) and items we could not read:
logged and counted, nothing stored."""

from __future__ import annotations

import structlog

from ingest.context import Context
from ingest.parse import Malformed, WebhookError

log = structlog.get_logger("relay.ingest.errors")


async def apply(items: list[WebhookError], ctx: Context) -> None:
    for item in items:
        log.warning("webhook_error", phone_number_id=item.phone_number_id, code=item.code,
                    error=item.text)
    ctx.metrics.event("error", "logged", len(items))


async def malformed(items: list[Malformed], ctx: Context) -> None:
    for item in items:
        log.warning("webhook_item_malformed", kind=item.item_kind, reason=item.reason)
        ctx.metrics.event(item.item_kind, "malformed")
