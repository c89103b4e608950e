"""The sender at a glance: which command goes to which handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sender.context import Context
from sender.handlers import mark_read, send
from shared.models import MarkRead, SendMessage

Handler = Callable[..., Awaitable[None]]

HANDLERS: dict[type, Handler] = {
    SendMessage: send.handle,
    MarkRead: mark_read.handle,
}


async def dispatch(
    command: SendMessage | MarkRead, headers: dict[str, Any], *, ctx: Context
) -> None:
    """Run the handler of ``command``; returning means the command may be acknowledged."""
    await HANDLERS[type(command)](command, headers, ctx=ctx)
