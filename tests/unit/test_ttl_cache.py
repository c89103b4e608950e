"""shared.cache.TtlCache: hits while live, misses once expired, bounded, loads once."""

from __future__ import annotations

import pytest

from shared.cache import TtlCache

pytestmark = pytest.mark.unit


def test_a_live_entry_is_a_hit_and_a_forgotten_one_a_miss() -> None:
    cache: TtlCache[str, int] = TtlCache(60.0)
    cache.put("a", 1)
    assert cache.get("a") == 1
    cache.forget("a")
    assert cache.get("a") is None


def test_an_expired_entry_is_a_miss() -> None:
    cache: TtlCache[str, int] = TtlCache(0.0)  # expires as soon as it is kept
    cache.put("a", 1)
    assert cache.get("a") is None


def test_a_full_cache_starts_over_instead_of_growing() -> None:
    cache: TtlCache[int, int] = TtlCache(60.0, max_entries=3)
    for key in range(3):
        cache.put(key, key)
    cache.put(0, 10)  # replacing a key does not count as growth
    assert [cache.get(k) for k in range(3)] == [10, 1, 2]
    cache.put(3, 3)
    assert [cache.get(k) for k in range(4)] == [None, None, None, 3]


async def test_get_or_load_loads_once_and_keeps_a_none_result() -> None:
    cache: TtlCache[str, str | None] = TtlCache(60.0)
    loads: list[str] = []

    async def load() -> str | None:
        loads.append("x")
        return None

    assert await cache.get_or_load("gone", load) is None
    assert await cache.get_or_load("gone", load) is None
    assert loads == ["x"]


async def test_get_or_load_loads_again_once_expired() -> None:
    cache: TtlCache[str, int] = TtlCache(0.0)
    loads: list[int] = []

    async def load() -> int:
        loads.append(len(loads))
        return len(loads)

    assert [await cache.get_or_load("k", load) for _ in range(2)] == [1, 2]
