"""``message_template_status_update``: Meta approved, rejected, paused or disabled a template;
every stored copy of it (one per account of the WABA) takes the new status. A template Relay
does not have, or an event that is no status Relay keeps, is logged and skipped."""

from __future__ import annotations

import structlog

from ingest.context import Context
from ingest.parse import TemplateStatusChange
from shared.template_store import MongoTemplateStore
from shared.templates import TemplateStore, rejected_reason, status_of

log = structlog.get_logger("relay.ingest.templates")


async def apply(items: list[TemplateStatusChange], ctx: Context) -> None:
    store = ctx.templates or MongoTemplateStore(ctx.db)
    for item in items:
        ctx.metrics.event("template_status", await _apply_one(item, store))


async def _apply_one(item: TemplateStatusChange, store: TemplateStore) -> str:
    status = status_of(item.event)
    if status is None:
        log.info("template_event_ignored", template_event=item.event, template_id=item.meta_id)
        return "ignored"
    reason = rejected_reason(status, item.reason)
    found = await store.set_status(item.meta_id, status, reason) if item.meta_id else 0
    if not found and item.waba_id and item.name and item.language:
        found = await store.set_status_by_name(item.waba_id, item.name, item.language, status,
                                               reason)
    if not found:
        log.warning("template_status_unknown_template", template_event=item.event,
                    template_id=item.meta_id, name=item.name, language=item.language,
                    waba_id=item.waba_id)
        return "unknown_template"
    log.info("template_status_applied", template_event=item.event, status=status.value,
             template_id=item.meta_id, name=item.name, copies=found)
    return "applied"
