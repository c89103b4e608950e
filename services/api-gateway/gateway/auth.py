"""API-key authentication and scopes.

``Authorization: Bearer <key>``: the key's SHA-256 is looked up in ``api_keys`` (keys are never
stored in clear), with a short in-process cache so the hot path does not read the database on
every request. Missing or unknown → 401 ``UNAUTHORIZED``; the route's scope missing → 403.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from aiohttp import web

from gateway import keys
from gateway.errors import ApiError, Handler
from gateway.spec import operation_of
from shared.cache import TtlCache
from shared.db import Database
from shared.headers import AUTHORIZATION, bearer_token
from shared.secrets import hash_api_key

PUBLIC_PATHS = frozenset({"/api/v1/asyncapi.json", "/api/v1/openapi.json"})


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user and the scopes of the key used."""

    user_id: str
    scopes: frozenset[str]
    key_hash: str


PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)


class Authenticator:
    """Resolves API keys to principals, caching hits for ``ttl`` seconds."""

    def __init__(self, db: Database, *, ttl: float = 30.0, max_entries: int = 10_000) -> None:
        self._db = db
        self._cache: TtlCache[str, Principal] = TtlCache(ttl, max_entries=max_entries)

    async def resolve(self, key: str) -> Principal | None:
        digest = hash_api_key(key)
        cached = self._cache.get(digest)
        if cached is not None:
            return cached
        doc = await self._db.api_keys.find_one({"_id": digest})
        if doc is None or not hmac.compare_digest(str(doc["_id"]), digest):
            self._cache.forget(digest)
            return None
        principal = Principal(str(doc["userId"]), frozenset(doc.get("scopes", [])), digest)
        self._cache.put(digest, principal)
        return principal


def bearer(request: web.Request) -> str | None:
    return bearer_token(request.headers.get(AUTHORIZATION))


def needs_auth(request: web.Request) -> bool:
    return request.path.startswith("/api/") and request.path not in PUBLIC_PATHS


def principal_of(request: web.Request) -> Principal:
    """The authenticated caller (set by :func:`auth_middleware`)."""
    principal: Principal = request[PRINCIPAL]
    return principal


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 without a known key, 403 without the route's scope."""
    if not needs_auth(request):
        return await handler(request)
    key = bearer(request)
    if key is None:
        raise ApiError(401, "Missing API key: send Authorization: Bearer <apiKey>")
    principal = await request.app[keys.AUTH].resolve(key)
    if principal is None:
        raise ApiError(401, "Unknown API key")
    spec = operation_of(request.match_info.handler)
    if spec is not None and spec.scope and spec.scope not in principal.scopes:
        raise ApiError(403, f"This API key lacks the {spec.scope} scope")
    request[PRINCIPAL] = principal
    return await handler(request)
