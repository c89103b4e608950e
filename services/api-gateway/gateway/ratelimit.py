"""Per-API-key request rate limit: a token bucket per key, 429 with ``Retry-After``."""

from __future__ import annotations

import math
import time

from aiohttp import web

from gateway import keys
from gateway.auth import PRINCIPAL, Principal
from gateway.errors import ApiError, Handler


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; :meth:`take` returns the wait if empty."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> float:
        """Take one token; 0 when granted, else seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """One bucket per API key (by hash), kept in process."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000) -> None:
        self._rate = rate
        self._burst = burst
        self._max = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, key: str) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max:
                self._buckets.clear()
            bucket = self._buckets[key] = TokenBucket(self._rate, self._burst)
        return bucket.take()


@web.middleware
async def ratelimit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """429 ``RATE_LIMITED`` once a key exceeds its rate (runs after authentication)."""
    principal: Principal | None = request.get(PRINCIPAL)
    if principal is not None:
        wait = request.app[keys.LIMITER].check(principal.key_hash)
        if wait > 0:
            raise ApiError(429, "Too many requests for this API key; slow down",
                           "RATE_LIMITED", headers={"Retry-After": str(max(1, math.ceil(wait)))})
    return await handler(request)
