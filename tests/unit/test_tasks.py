"""``stop_task`` ends a task even when one cancel is lost (Python 3.11's ``wait_for``)."""

from __future__ import annotations

import asyncio

import pytest

from shared.tasks import stop_task


async def loses_one_cancel(cancels: list[int]) -> None:
    """A periodic loop whose first cancel is swallowed, as ``wait_for`` can on Python 3.11."""
    while True:
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            cancels.append(1)
            if len(cancels) > 1:
                raise


class TestStopTask:
    async def test_a_lost_cancel_is_repeated_until_the_task_ends(self):
        cancels: list[int] = []
        task = asyncio.create_task(loses_one_cancel(cancels))
        await asyncio.sleep(0)
        await asyncio.wait_for(stop_task(task, recancel_seconds=0.05), 2)
        assert task.cancelled()
        assert len(cancels) == 2

    async def test_a_single_cancel_would_have_left_it_running(self):
        cancels: list[int] = []
        task = asyncio.create_task(loses_one_cancel(cancels))
        await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=0.2)
        assert not done and cancels == [1]
        await stop_task(task, recancel_seconds=0.05)
        assert task.cancelled()

    async def test_an_exception_the_task_ended_with_is_raised(self):
        async def fails() -> None:
            raise ValueError("broken")

        task = asyncio.create_task(fails())
        await asyncio.wait({task})
        with pytest.raises(ValueError, match="broken"):
            await stop_task(task)

    async def test_none_and_finished_tasks_are_fine(self):
        await stop_task(None)
        task = asyncio.create_task(asyncio.sleep(0))
        await task
        await stop_task(task)
