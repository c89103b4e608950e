"""The exact, idempotent, crash-safe projection of message events into account counters.

No multi-document transactions: each event is applied in four single-document atomic steps.

- **A** ``claim``: on the message's projection doc, conditionally (the version read is still
  there, the event's version is not in ``applied`` and nothing is pending) add the version to
  ``applied``, move ``version``/``status`` if higher, and store the delta as ``pending``. A new
  message's doc is created in this state by a plain insert.
- **B** ``increment``: on the account doc, ``$inc`` the delta and ``$addToSet`` the token
  ``<messageId>:<version>`` into ``inflight`` — only if the token is not there yet, so B runs once.
- **C** ``settle``: unset ``pending`` on the message doc.
- **D** ``release``: ``$pull`` the token from ``inflight``.

A crash leaves one of three states, each repaired by repeating the steps that follow it:
``pending`` set without the token (redo B, C, D), ``pending`` set with the token (B is a no-op;
redo C, D), the token without ``pending`` (redo D). Since D comes after C, a pending doc whose
token is missing has not done B. Tokens are per event, so a stale one never blocks another event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import structlog

from shared.models import Direction, MessageEvent, MessageStatus, MessageType
from stats.counters import Delta, Snapshot, advance, delta, projectable

log = structlog.get_logger("relay.stats.projection")

MAX_ATTEMPTS = 8


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"


class ProjectionConflict(RuntimeError):
    """A message's projection doc kept changing under us (another writer is active)."""


class ProjectionStore(Protocol):
    """Single-document atomic operations the projection protocol is made of."""

    async def load(self, message_id: str) -> dict[str, Any] | None:
        """The message's projection doc, or None."""

    async def create(self, doc: dict[str, Any]) -> bool:
        """Insert a new message doc (step A for a new message); False if it exists already."""

    async def claim(
        self, message_id: str, *, seen_version: int, version: int,
        snapshot: Snapshot, pending: dict[str, Any],
    ) -> bool:
        """Step A; False when the doc changed since it was read (or the event is applied)."""

    async def ensure_account(self, account_id: str, user_id: str) -> None:
        """Create the zero-filled account doc unless it exists."""

    async def increment(self, account_id: str, tokens: list[str], inc: Delta) -> bool:
        """Step B for one event or a group (``inc`` their sum), only if no token is held yet.

        False when nothing matched (a token is held already, or there is no such account).
        """

    async def account_exists(self, account_id: str) -> bool:
        """Whether the account doc exists."""

    async def settle(self, message_id: str, version: int) -> None:
        """Step C: clear ``pending`` if it is still the one of ``version``."""

    async def release(self, account_id: str, tokens: list[str]) -> None:
        """Step D: drop ``tokens`` from the account's ``inflight``."""

    async def load_many(self, message_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The projection docs of ``message_ids`` that exist, by id (one round trip)."""

    async def claim_many(self, claims: list[Claim]) -> set[str]:
        """Step A for many messages at once; return the ids of the messages claimed."""

    async def settle_many(self, settled: list[tuple[str, int]]) -> None:
        """Step C for many ``(messageId, version)`` at once."""

    def pending(self) -> AsyncIterator[dict[str, Any]]:
        """Message docs with a ``pending`` delta."""

    async def held_tokens(self) -> list[tuple[str, list[str]]]:
        """``(accountId, inflight)`` of every account holding tokens."""

    async def paused(self) -> bool:
        """Whether a rebuild holds the projection paused (its lease has not run out)."""


@dataclass(frozen=True)
class Claim:
    """Step A of one event: a new doc to insert (``doc``) or a conditional update."""

    message_id: str
    version: int
    seen_version: int
    snapshot: Snapshot
    pending: dict[str, Any]
    doc: dict[str, Any] | None = None


def token_of(message_id: str, version: int) -> str:
    return f"{message_id}:{version}"


def _snapshot(doc: dict[str, Any] | None) -> Snapshot | None:
    if doc is None:
        return None
    return Snapshot(int(doc["version"]), MessageStatus(doc["status"]))


def _pending(event: MessageEvent, inc: Delta) -> dict[str, Any]:
    return {"version": event.version, "inc": [[path, n] for path, n in inc.items()]}


class Projector:
    """Applies events through the A-D protocol; serial per message, concurrent across messages."""

    def __init__(
        self, store: ProjectionStore, *, on_recovered: Callable[[int], object] | None = None
    ) -> None:
        self._store = store
        self._on_recovered = on_recovered
        self._accounts: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: defaultdict[str, int] = defaultdict(int)
        self._recovery: asyncio.Task[int] | None = None

    async def apply(self, event: MessageEvent) -> Outcome:
        """Apply ``event`` once, however often and in whatever order it arrives.

        One event at a time, without the rebuild pause: the service runs
        :class:`stats.batch.BatchProjector` windows instead.
        """
        if not projectable(event):
            return Outcome.SKIPPED
        await self.recovered()
        assert event.message_id is not None
        async with self._serial(event.message_id):
            for _ in range(MAX_ATTEMPTS):
                outcome = await self._try_apply(event)
                if outcome is not None:
                    return outcome
        raise ProjectionConflict(event.event_id)

    async def recovered(self) -> int:
        """Run :meth:`recover` once (the first caller starts it; everyone waits for it)."""
        if self._recovery is None:
            self._recovery = asyncio.ensure_future(self.recover())
        try:
            return await asyncio.shield(self._recovery)
        except Exception:
            self._recovery = None  # let the next event try again
            raise

    async def recover(self) -> int:
        """Finish every event a crash left half-applied; return how many were repaired."""
        repaired = 0
        async for doc in self._store.pending():
            await self._finish(doc)
            repaired += 1
        for account_id, tokens in await self._store.held_tokens():
            for token in tokens:
                message_id, _, version = token.rpartition(":")
                held = await self._store.load(message_id)
                if held is None or held.get("pending", {}).get("version") != int(version):
                    await self._store.release(account_id, [token])
                    repaired += 1
        if repaired:
            log.info("projection_recovered", repaired=repaired)
            if self._on_recovered is not None:
                self._on_recovered(repaired)
        return repaired

    async def _try_apply(self, event: MessageEvent) -> Outcome | None:
        assert event.message_id is not None and event.whatsapp_account_id is not None
        doc = await self._store.load(event.message_id)
        if doc is not None and "pending" in doc:
            await self._finish(doc)
            doc = await self._store.load(event.message_id)
        if doc is not None and event.version in doc["applied"]:
            # A crash between C and D may have left this event's token behind.
            await self._store.release(
                doc["accountId"], [token_of(event.message_id, event.version)]
            )
            return Outcome.DUPLICATE
        current = _snapshot(doc)
        inc = delta(current, event)
        pending = _pending(event, inc)
        if doc is None:
            claimed = await self._store.create(self._new_doc(event, pending))
        else:
            claimed = await self._store.claim(
                event.message_id, seen_version=current.version if current else 0,
                version=event.version, snapshot=advance(current, event), pending=pending,
            )
        if not claimed:
            return None
        account_id: str = doc["accountId"] if doc else event.whatsapp_account_id
        user_id: str = (doc or {}).get("userId") or event.user_id or ""
        await self._complete(event.message_id, account_id, user_id, event.version, inc)
        return Outcome.APPLIED

    @staticmethod
    def _new_doc(event: MessageEvent, pending: dict[str, Any]) -> dict[str, Any]:
        assert event.direction is not None and event.message_type is not None
        assert event.status is not None
        return {
            "_id": event.message_id,
            "accountId": event.whatsapp_account_id,
            "userId": event.user_id,
            "direction": Direction(event.direction).value,
            "type": MessageType(event.message_type).value,
            "applied": [event.version],
            "version": event.version,
            "status": event.status.value,
            "pending": pending,
        }

    async def _finish(self, doc: dict[str, Any]) -> None:
        pending = doc["pending"]
        inc = {path: int(n) for path, n in pending["inc"]}
        await self._complete(
            doc["_id"], doc["accountId"], doc.get("userId", ""), int(pending["version"]), inc
        )

    async def _complete(
        self, message_id: str, account_id: str, user_id: str, version: int, inc: Delta
    ) -> None:
        """Steps B, C and D (each safe to repeat)."""
        tokens = [token_of(message_id, version)]
        await self._increment(account_id, user_id, tokens, inc)
        await self._store.settle(message_id, version)
        await self._store.release(account_id, tokens)

    async def _increment(
        self, account_id: str, user_id: str, tokens: list[str], inc: Delta
    ) -> bool:
        """Step B, creating the account doc first when this process has not seen it."""
        if account_id not in self._accounts:
            await self._store.ensure_account(account_id, user_id)
            self._accounts.add(account_id)
        done = await self._store.increment(account_id, tokens, inc)
        if not done and not await self._store.account_exists(account_id):
            await self._store.ensure_account(account_id, user_id)  # removed under us (rebuild)
            done = await self._store.increment(account_id, tokens, inc)
        return done

    @contextlib.asynccontextmanager
    async def _serial(self, message_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(message_id, asyncio.Lock())
        self._waiting[message_id] += 1
        try:
            async with lock:
                yield
        finally:
            self._waiting[message_id] -= 1
            if not self._waiting[message_id]:
                del self._waiting[message_id]
                del self._locks[message_id]
