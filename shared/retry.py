"""Connecting to a dependency that may not be up yet: services and their dependencies start in
any order, so every service connects to RabbitMQ and MongoDB through :func:`connect_with_retry`."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from tenacity import AsyncRetrying, stop_after_delay, stop_never, wait_exponential

log = structlog.get_logger("relay.connect")

T = TypeVar("T")
FIRST_WAIT_SECONDS = 0.2


async def connect_with_retry(
    step: Callable[[], Awaitable[T]],
    dependency: str,
    *,
    give_up_after: float | None = None,
    max_wait: float = 5.0,
    on_failure: Callable[[], Awaitable[object]] | None = None,
) -> T:
    """Await ``step()`` until it succeeds and return its result.

    Waits 0.2 s after the first failure, doubling up to ``max_wait``. Every failure is logged
    (``connect_failed``, with ``dependency``) and ``on_failure``, when given, runs before the
    next try (to close a half-made connection; its own errors are ignored). After
    ``give_up_after`` seconds the last error is raised; ``None`` tries until cancelled.
    """
    stop = stop_never if give_up_after is None else stop_after_delay(give_up_after)
    wait = wait_exponential(multiplier=FIRST_WAIT_SECONDS, max=max_wait)
    async for attempt in AsyncRetrying(stop=stop, wait=wait, reraise=True):
        with attempt:
            try:
                return await step()
            except Exception as exc:
                log.warning("connect_failed", dependency=dependency, error=repr(exc)[:200],
                            attempt=attempt.retry_state.attempt_number)
                if on_failure is not None:
                    with contextlib.suppress(Exception):
                        await on_failure()
                raise
    raise RuntimeError("unreachable: tenacity returns or raises")  # pragma: no cover
