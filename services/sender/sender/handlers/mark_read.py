"""``MarkRead``: tell WhatsApp an inbound message was read.

Read receipts are not business-initiated messages, so they are not paced; they are counted in
``relay_read_receipts_total``. A transient error is retried through the delay queues.
"""

from __future__ import annotations

from typing import Any

import structlog

from sender.context import Context
from sender.deferral import defer, wait_or_defer
from shared.cloudapi import CloudApiError, ErrorClass
from shared.headers import ATTEMPT
from shared.models import MarkRead

log = structlog.get_logger("relay.sender")


async def handle(cmd: MarkRead, headers: dict[str, Any], *, ctx: Context) -> None:
    """Send the read receipt; retry transient errors up to ``max_attempts``."""
    if not await wait_or_defer(ctx, cmd, cmd.whatsapp_account_id, headers, "early"):
        return
    account = await ctx.accounts.get(cmd.whatsapp_account_id)
    if account is None or not account.connected:
        log.info("read_receipt_dropped", message_id=cmd.message_id, reason="not connected")
        ctx.metrics.read_receipts.labels("dropped").inc()
        return
    attempt = int(headers.get(ATTEMPT) or 1)
    try:
        async with ctx.semaphore:
            await ctx.cloud.mark_read(account.phone_number_id, account.token,
                                      cmd.whatsapp_message_id)
    except CloudApiError as exc:
        await _on_error(ctx, cmd, account.id, exc, attempt)
        return
    ctx.metrics.read_receipts.labels("sent").inc()


async def _on_error(
    ctx: Context, cmd: MarkRead, account_id: str, exc: CloudApiError, attempt: int
) -> None:
    log.warning("read_receipt_error", message_id=cmd.message_id, error=exc.readable())
    if exc.kind is ErrorClass.AUTH:
        await ctx.accounts.disconnect(account_id, exc.readable())
    retryable = exc.kind in (ErrorClass.RETRY, ErrorClass.PAIR_LIMIT)
    if retryable and attempt < ctx.settings.max_attempts:
        delay = ctx.settings.retry_base_seconds * 2 ** (attempt - 1)
        await defer(ctx, cmd, account_id, until=ctx.clock() + delay, reason="retry",
                    headers={ATTEMPT: attempt + 1})
        ctx.metrics.read_receipts.labels("retried").inc()
        return
    ctx.metrics.read_receipts.labels("failed").inc()
