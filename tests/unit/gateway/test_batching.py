"""Natural batching: alone when idle, together while a flush runs, errors to their owners."""

from __future__ import annotations

import asyncio

import pytest

from shared.batching import Batcher

pytestmark = pytest.mark.unit


class TestBatcher:
    """Requests that arrive during a flush share the next one; results keep their order."""

    async def test_idle_request_is_flushed_alone(self) -> None:
        seen: list[list[int]] = []

        async def flush(_: str, items: list[int]) -> list[int | BaseException]:
            seen.append(items)
            return [item * 10 for item in items]

        batcher: Batcher[str, int, int] = Batcher(flush)
        assert await batcher.submit("k", 1) == 10
        assert seen == [[1]]

    async def test_concurrent_requests_share_a_flush(self) -> None:
        seen: list[list[int]] = []
        gate = asyncio.Event()

        async def flush(_: str, items: list[int]) -> list[int | BaseException]:
            seen.append(items)
            await gate.wait()
            return [item + 100 for item in items]

        batcher: Batcher[str, int, int] = Batcher(flush)
        first = asyncio.create_task(batcher.submit("k", 0))
        await asyncio.sleep(0)
        rest = [asyncio.create_task(batcher.submit("k", i)) for i in range(1, 6)]
        await asyncio.sleep(0)
        gate.set()
        assert await first == 100
        assert [await task for task in rest] == [101, 102, 103, 104, 105]
        assert seen == [[0], [1, 2, 3, 4, 5]]

    async def test_keys_flush_independently(self) -> None:
        seen: list[tuple[str, list[int]]] = []

        async def flush(key: str, items: list[int]) -> list[int | BaseException]:
            seen.append((key, items))
            return items

        batcher: Batcher[str, int, int] = Batcher(flush)
        assert await asyncio.gather(batcher.submit("a", 1), batcher.submit("b", 2)) == [1, 2]
        assert sorted(seen) == [("a", [1]), ("b", [2])]

    async def test_an_item_error_fails_only_that_item(self) -> None:
        async def flush(_: str, items: list[int]) -> list[int | BaseException]:
            return [ValueError(item) if item == 2 else item for item in items]

        batcher: Batcher[str, int, int] = Batcher(flush)
        results = await asyncio.gather(*(batcher.submit("k", i) for i in range(4)),
                                       return_exceptions=True)
        assert results[0] == 0 and results[1] == 1 and results[3] == 3
        assert isinstance(results[2], ValueError)

    async def test_a_failed_flush_fails_its_batch_and_the_next_one_runs(self) -> None:
        calls = 0

        async def flush(_: str, items: list[int]) -> list[int | BaseException]:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ConnectionError("down")
            return items

        batcher: Batcher[str, int, int] = Batcher(flush)
        with pytest.raises(ConnectionError):
            await batcher.submit("k", 1)
        assert await batcher.submit("k", 2) == 2

    async def test_batches_are_capped(self) -> None:
        sizes: list[int] = []

        async def flush(_: str, items: list[int]) -> list[int | BaseException]:
            sizes.append(len(items))
            await asyncio.sleep(0)
            return items

        batcher: Batcher[str, int, int] = Batcher(flush, max_batch=3)
        await asyncio.gather(*(batcher.submit("k", i) for i in range(8)))
        assert max(sizes) <= 3 and sum(sizes) == 8
