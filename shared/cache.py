"""One small in-process cache with a time to live, for what services read often and rarely
change: accounts (gateway, sender, ingest), contacts, API keys."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_ENTRIES = 50_000


class TtlCache(Generic[K, V]):
    """Entries live ``ttl`` seconds (monotonic clock); the whole cache is cleared when it
    holds ``max_entries``, which bounds its memory without bookkeeping per entry."""

    def __init__(self, ttl: float, *, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self._max = max_entries
        self._items: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        """The live value of ``key``, or None when absent or expired."""
        item = self._items.get(key)
        if item is None or item[0] <= time.monotonic():
            return None
        return item[1]

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` for ``ttl`` seconds from now."""
        if len(self._items) >= self._max and key not in self._items:
            self._items.clear()
        self._items[key] = (time.monotonic() + self.ttl, value)

    def forget(self, key: K) -> None:
        """Drop ``key`` (its value changed: the next read loads it again)."""
        self._items.pop(key, None)

    def clear(self) -> None:
        """Drop every entry (a write whose keys are not known one by one)."""
        self._items.clear()

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The live value of ``key``, else ``await load()``, kept — a None result too."""
        item = self._items.get(key)
        if item is not None and item[0] > time.monotonic():
            return item[1]
        value = await load()
        self.put(key, value)
        return value
