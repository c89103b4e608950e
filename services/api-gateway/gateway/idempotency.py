"""Idempotency keys: a repeated request gets the first answer and creates nothing.

A record ``{_id: "<userId>:<key>", requestHash, status, body, createdAt}`` is inserted *before*
the work, as ``in_progress``, so two concurrent repeats cannot both run: the loser sees the
record and answers 409. When the work answers, the record keeps the answer for 24 h; when it
fails (an exception, a 5xx or a 429: nothing was decided), the record is removed so that a retry
runs again; a 4xx refusal is an answer like any other and is kept, so a repeat gets the same
refusal even when the state behind it changed meanwhile (an account connected again, a new UTC
day). Records older than 24 h count as absent (the embedded server may not expire TTL indexes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from pymongo.errors import DuplicateKeyError

from gateway.errors import ApiError, dumps, validation_error
from shared.db import IDEMPOTENCY_TTL_SECONDS, Database
from shared.headers import IDEMPOTENCY_KEY
from shared.models import utcnow

MAX_KEY_LENGTH = 200
IN_PROGRESS = "in_progress"
# An in-progress record this old belongs to a process that died mid-request.
STALE_IN_PROGRESS = timedelta(minutes=5)


class KeyReused(ApiError):
    """The key was already used with a different request."""

    def __init__(self) -> None:
        super().__init__(409, "This idempotency key was already used with a different request",
                         "CONFLICT")


class KeyInProgress(ApiError):
    """A request with the key is still running."""

    def __init__(self) -> None:
        super().__init__(409, "A request with this idempotency key is still in progress; "
                         "retry shortly to get its answer", "CONFLICT")


@dataclass(frozen=True)
class Answer:
    """A stored (or fresh) answer: HTTP status and JSON body."""

    status: int
    body: dict[str, Any]


def request_hash(method: str, path: str, payload: bytes) -> str:
    """SHA-256 of what identifies a request: method, path and its canonical body."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), payload):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def canonical_json(value: Any) -> bytes:
    """A stable byte form of a JSON value (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def check_key(key: str) -> str:
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise validation_error(
            f"{IDEMPOTENCY_KEY} must be 1 to {MAX_KEY_LENGTH} characters", IDEMPOTENCY_KEY
        )
    return key


class Idempotency:
    """The ``idempotency`` collection's protocol: begin, then complete or abandon."""

    def __init__(self, db: Database, *, stale_after: timedelta = STALE_IN_PROGRESS) -> None:
        self._db = db
        self._stale = stale_after

    async def begin(self, record_id: str, digest: str) -> Answer | None:
        """Claim ``record_id``; None to go ahead, or the stored :class:`Answer` to replay.

        Raises 409 when the key is in use by another request (different body, or unfinished).
        """
        stored, _ = await self.claim(record_id, digest)
        return stored

    async def claim(self, record_id: str, digest: str) -> tuple[Answer | None, bool]:
        """As :meth:`begin`, and whether the claim took over a record left unfinished (its
        request may have done its work before dying: the caller should look)."""
        took_over = False
        for _ in range(3):
            now = utcnow()
            try:
                await self._db.idempotency.insert_one({
                    "_id": record_id, "requestHash": digest, "status": IN_PROGRESS,
                    "createdAt": now,
                })
                return None, took_over
            except DuplicateKeyError:
                pass
            found = await self._db.idempotency.find_one({"_id": record_id})
            if found is None:
                continue  # abandoned meanwhile: claim it again
            if self._expired(found, now):
                took_over = took_over or found.get("status") == IN_PROGRESS
                await self._db.idempotency.delete_one(
                    {"_id": record_id, "createdAt": found["createdAt"]}
                )
                continue
            return self._replay(found, digest), False
        raise KeyInProgress()

    def _expired(self, found: dict[str, Any], now: Any) -> bool:
        age = now - found["createdAt"]
        if found.get("status") == IN_PROGRESS:
            return bool(age > self._stale)
        return bool(age > timedelta(seconds=IDEMPOTENCY_TTL_SECONDS))

    @staticmethod
    def _replay(found: dict[str, Any], digest: str) -> Answer:
        if found.get("requestHash") != digest:
            raise KeyReused()
        if found.get("status") == IN_PROGRESS:
            raise KeyInProgress()
        return Answer(int(found["status"]), json.loads(found["body"]))

    async def complete(self, record_id: str, answer: Answer) -> None:
        """Keep ``answer`` as the one every repeat gets."""
        await self._db.idempotency.update_one(
            {"_id": record_id},
            {"$set": {"status": answer.status, "body": dumps(answer.body)}},
        )

    async def abandon(self, record_id: str) -> None:
        """Forget the claim (the work failed), so that a retry runs again."""
        await self._db.idempotency.delete_one({"_id": record_id, "status": IN_PROGRESS})


Work = Callable[[], Awaitable[Answer]]


def is_final(answer: Answer) -> bool:
    """Whether ``answer`` is the one every repeat gets: a success or a 4xx refusal. A 5xx or a
    429 decided nothing (the request may succeed when retried), so it is not kept."""
    return answer.status < 500 and answer.status != 429


async def run_once(
    store: Idempotency, record_id: str, digest: str, work: Work,
    *, keep: Callable[[Answer], bool] = is_final,
) -> tuple[Answer, bool]:
    """Run ``work`` at most once per record; return its answer and whether it was a replay.

    Answers ``keep`` refuses (by default a 5xx or a 429) are not stored: a repeat runs again.
    """
    stored = await store.begin(record_id, digest)
    if stored is not None:
        return stored, True
    try:
        answer = await work()
    except ApiError as exc:
        refusal = Answer(exc.status, exc.body())
        if not keep(refusal):
            await store.abandon(record_id)
            raise
        await store.complete(record_id, refusal)
        return refusal, False
    except BaseException:
        await store.abandon(record_id)
        raise
    if keep(answer):
        await store.complete(record_id, answer)
    else:
        await store.abandon(record_id)
    return answer, False


async def idempotent_view(
    request: web.Request, user_id: str, payload: bytes, work: Work,
    *, replays: Any = None,
) -> web.Response:
    """Answer ``work()``, or the stored answer when the request carries a known
    ``Idempotency-Key`` (``payload`` is the canonical body, e.g. :func:`canonical_json`)."""
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is None:
        return _respond(await work())
    record_id = f"{user_id}:{check_key(key)}"
    digest = request_hash(request.method, request.path, payload)
    answer, replayed = await run_once(Idempotency(_db(request)), record_id, digest, work)
    if replayed and replays is not None:
        replays.inc()
    response = _respond(answer)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _respond(answer: Answer) -> web.Response:
    return web.json_response(answer.body, status=answer.status, dumps=dumps)


def _db(request: web.Request) -> Database:
    from gateway import keys

    return request.app[keys.DB]
