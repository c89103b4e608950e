"""shared.retry.connect_with_retry: tries again after a failure, cleans up, gives up when told."""

from __future__ import annotations

import asyncio

import pytest

from shared.retry import connect_with_retry

pytestmark = pytest.mark.unit


class Flaky:
    """A connect that fails ``failures`` times, then answers ``"connected"``."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.cleanups = 0
        self.retried = asyncio.Event()

    async def connect(self) -> str:
        self.calls += 1
        if self.calls > 1:
            self.retried.set()
        if self.calls <= self.failures:
            raise ConnectionRefusedError(f"refused #{self.calls}")
        return "connected"

    async def close(self) -> None:
        self.cleanups += 1


async def test_retries_until_it_connects_and_cleans_up_after_each_failure() -> None:
    flaky = Flaky(failures=2)
    result = await connect_with_retry(flaky.connect, "broker", on_failure=flaky.close)
    assert (result, flaky.calls, flaky.cleanups) == ("connected", 3, 2)


async def test_gives_up_with_the_last_error() -> None:
    flaky = Flaky(failures=100)
    with pytest.raises(ConnectionRefusedError, match="refused #1"):
        await connect_with_retry(flaky.connect, "database", give_up_after=0.0)
    assert flaky.calls == 1


async def test_a_failing_cleanup_does_not_stop_the_retries() -> None:
    flaky = Flaky(failures=1)

    async def broken_close() -> None:
        raise RuntimeError("already closed")

    assert await connect_with_retry(flaky.connect, "broker", on_failure=broken_close) == "connected"


async def test_cancellation_stops_a_retry_that_never_gives_up() -> None:
    flaky = Flaky(failures=10**6)
    task = asyncio.create_task(connect_with_retry(flaky.connect, "broker"))
    await asyncio.wait_for(flaky.retried.wait(), timeout=5)  # it retries, then waits to retry
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
