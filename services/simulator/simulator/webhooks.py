"""Posts signed webhooks to ingest in the background, retrying as Meta does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import structlog

from shared.headers import HUB_SIGNATURE
from shared.secrets import signature
from simulator.metrics import SimMetrics
from simulator.payloads import STATUS_ORDER, status_payload
from simulator.state import SendRecord, SimConfig

log = structlog.get_logger(__name__)

FIRST_BACKOFF = 0.1
MAX_BACKOFF = 2.0


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes posted (and signed)."""
    return json.dumps(payload, separators=(",", ":")).encode()


class WebhookPoster:
    """Signs with the app secret and posts to the webhook URL; never blocks a send answer."""

    def __init__(
        self, *, url: str, app_secret: str, metrics: SimMetrics,
        retry_window: float = 60.0, attempt_timeout: float = 5.0,
    ) -> None:
        self.url = url
        self._secret = app_secret
        self._metrics = metrics
        self._retry_window = retry_window
        self._timeout = aiohttp.ClientTimeout(total=attempt_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        self.cancel_pending()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def cancel_pending(self) -> None:
        """Drop every delivery not yet made (``/_sim/reset``)."""
        for task in list(self._tasks):
            task.cancel()

    def spawn(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        task = asyncio.create_task(work())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def post_once(self, body: bytes, *, signed_as: str | None = None) -> int | None:
        """One POST; the HTTP status, or ``None`` when ingest could not be reached."""
        if self._session is None:
            raise RuntimeError("WebhookPoster.start() was not awaited")
        headers = {
            "Content-Type": "application/json",
            HUB_SIGNATURE: signed_as or signature(self._secret, body),
        }
        try:
            async with self._session.post(self.url, data=body, headers=headers) as response:
                await response.read()
                return response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.debug("webhook_unreachable", error=type(exc).__name__)
            return None

    async def deliver(self, body: bytes, *, kind: str, first_status: int | None = None) -> bool:
        """POST until ingest answers 200 or the retry window closes."""
        deadline = time.monotonic() + self._retry_window
        backoff = FIRST_BACKOFF
        status = first_status if first_status is not None else await self.post_once(body)
        while status != 200:
            if time.monotonic() + backoff > deadline:
                self._metrics.webhooks.labels(kind, "gave_up").inc()
                log.warning("webhook_gave_up", kind=kind, last_status=status)
                return False
            self._metrics.webhooks.labels(kind, "retried").inc()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            status = await self.post_once(body)
        self._metrics.webhooks.labels(kind, "delivered").inc()
        return True

    def retry_later(self, body: bytes, *, kind: str, first_status: int | None) -> None:
        """Keep retrying a POST whose first attempt answered ``first_status``."""
        if first_status != 200:
            self.spawn(lambda: self._deliver_quietly(body, kind, first_status))
        else:
            self._metrics.webhooks.labels(kind, "delivered").inc()

    async def _deliver_quietly(self, body: bytes, kind: str, first_status: int | None) -> None:
        await self.deliver(body, kind=kind, first_status=first_status)

    def statuses_for(self, send: SendRecord, config: SimConfig) -> None:
        """Post ``sent``, ``delivered``, ``read`` for ``send``, ``status_delay`` apart, in order."""
        order = tuple(reversed(STATUS_ORDER)) if config.reorder_statuses else STATUS_ORDER
        copies = 2 if config.duplicate_statuses else 1
        delay = config.status_delay_seconds
        self.spawn(lambda: self._post_statuses(send, order, delay, copies))

    def failure_for(self, send: SendRecord, errors: list[dict[str, Any]], delay: float) -> None:
        """Post one ``failed`` status for ``send`` after ``delay`` (an asynchronous error)."""
        self.spawn(lambda: self._post_statuses(send, ("failed",), delay, 1, errors))

    async def _post_statuses(
        self, send: SendRecord, order: tuple[str, ...], delay: float, copies: int,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        for status in order:
            await asyncio.sleep(delay)
            body = encode(status_payload(send, status, errors=errors))
            for _ in range(copies):
                await self.deliver(body, kind="status")
