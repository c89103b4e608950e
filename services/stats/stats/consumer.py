"""The broker-facing adapter: deliveries are gathered into windows and projected together.

Each delivery's handler puts its event in the current window and waits for the window's
outcome, so a delivery is acked only once its event is fully applied (after step D), and a
failure requeues every delivery of the window (applying again is harmless).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from aio_pika.abc import AbstractIncomingMessage
from pymongo.errors import PyMongoError

from shared.broker import Requeue
from shared.models import MessageEvent
from shared.tasks import stop_task
from stats.batch import BatchProjector
from stats.metrics import StatsMetrics
from stats.projection import Outcome

LINGER_SECONDS = 0.005
DRAIN_SECONDS = 10.0

Waiter = tuple[MessageEvent, "asyncio.Future[Outcome]"]


class EventConsumer:
    """Projects deliveries in windows of up to ``window`` events; records the metrics."""

    def __init__(
        self, projector: BatchProjector, *, metrics: StatsMetrics, window: int = 200
    ) -> None:
        self._projector = projector
        self._metrics = metrics
        self._window = window
        self._queue: asyncio.Queue[Waiter] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._in_hand = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stats-projection")

    async def handle(self, event: MessageEvent, _message: AbstractIncomingMessage) -> None:
        """The broker handler: returns when the event is applied; raises to requeue it."""
        if self._stopping or self._task is None:
            raise Requeue("stats is shutting down")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._in_hand += 1
        self._idle.clear()
        try:
            await self._queue.put((event, future))
            outcome = await future
        except PyMongoError as exc:
            raise Requeue(f"database: {exc!r}") from exc
        finally:
            self._in_hand -= 1
            if not self._in_hand:
                self._idle.set()
        if outcome == Outcome.APPLIED:
            self._metrics.lag.set(max(0.0, _age(event.occurred_at)))

    async def stop(self, timeout: float = DRAIN_SECONDS) -> None:
        """Refuse new events, finish the ones in hand, stop the projection loop."""
        self._stopping = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        await stop_task(self._task)

    async def _run(self) -> None:
        while True:
            window = [await self._queue.get()]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LINGER_SECONDS):
                    while len(window) < self._window:
                        window.append(await self._queue.get())
            while len(window) < self._window and not self._queue.empty():
                window.append(self._queue.get_nowait())
            await self._project(window)

    async def _project(self, window: list[Waiter]) -> None:
        try:
            outcomes = await self._projector.apply_batch([event for event, _ in window])
        except Exception as exc:
            self._metrics.events.labels("failed").inc(len(window))
            for _, future in window:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), outcome in zip(window, outcomes, strict=True):
            self._metrics.events.labels(outcome.value).inc()
            if not future.done():
                future.set_result(outcome)


def _age(occurred_at: datetime) -> float:
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    return (datetime.now(UTC) - occurred_at).total_seconds()
