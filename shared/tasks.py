"""Stopping background tasks for certain.

On Python 3.11, ``asyncio.wait_for`` swallows a cancel that arrives in the same loop step as the
awaited operation completes: the task carries on as if it had not been cancelled. A periodic loop
that loses its one cancel that way runs for ever, and the shutdown awaiting it hangs (CI saw it:
a sender's sweeper kept sweeping after ``stop()``). :func:`stop_task` cancels again until the
task has ended.
"""

from __future__ import annotations

import asyncio
from typing import Any

RECANCEL_SECONDS = 0.2


async def stop_task(task: asyncio.Task[Any] | None, *,
                    recancel_seconds: float = RECANCEL_SECONDS) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling again while it runs on.

    A cancellation is the expected end; any other exception the task ended with is raised.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=recancel_seconds)
    if not task.cancelled():
        task.result()
