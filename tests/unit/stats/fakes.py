"""An in-memory :class:`stats.projection.ProjectionStore` that can "crash" after any step."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

from stats.counters import Delta, Snapshot, apply_to_doc, empty_account
from stats.projection import Claim


class Crash(Exception):
    """The process died right after the named step was written."""


class FakeProjectionStore:
    """The Mongo adapter's semantics; ``crash_after={"increment": 1}`` dies after the 1st B."""

    def __init__(self) -> None:
        self.messages: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.crash_after: dict[str, int] = {}
        self.calls: list[str] = []
        self.rebuilding = False

    def _step(self, name: str) -> None:
        self.calls.append(name)
        if name in self.crash_after:
            self.crash_after[name] -= 1
            if self.crash_after[name] == 0:
                del self.crash_after[name]
                raise Crash(name)

    async def load(self, message_id: str) -> dict[str, Any] | None:
        doc = self.messages.get(message_id)
        return copy.deepcopy(doc) if doc is not None else None

    async def create(self, doc: dict[str, Any]) -> bool:
        if doc["_id"] in self.messages:
            return False
        self.messages[doc["_id"]] = copy.deepcopy(doc)
        self._step("create")
        return True

    async def claim(
        self, message_id: str, *, seen_version: int, version: int,
        snapshot: Snapshot, pending: dict[str, Any],
    ) -> bool:
        doc = self.messages.get(message_id)
        if doc is None or doc["version"] != seen_version or version in doc["applied"]:
            return False
        if "pending" in doc:
            return False
        doc["applied"].append(version)
        doc.update(version=snapshot.version, status=snapshot.status.value,
                   pending=copy.deepcopy(pending))
        self._step("claim")
        return True

    async def ensure_account(self, account_id: str, user_id: str) -> None:
        self.accounts.setdefault(account_id, empty_account(account_id, user_id))

    async def account_exists(self, account_id: str) -> bool:
        return account_id in self.accounts

    async def increment(self, account_id: str, tokens: list[str], inc: Delta) -> bool:
        doc = self.accounts.get(account_id)
        if doc is None or set(tokens) & set(doc["inflight"]):
            return False
        apply_to_doc(doc, inc)
        doc["inflight"].extend(tokens)
        self._step("increment")
        return True

    async def settle(self, message_id: str, version: int) -> None:
        doc = self.messages.get(message_id)
        if doc is not None and doc.get("pending", {}).get("version") == version:
            del doc["pending"]
            self._step("settle")

    async def release(self, account_id: str, tokens: list[str]) -> None:
        doc = self.accounts.get(account_id)
        if doc is not None and set(tokens) & set(doc["inflight"]):
            doc["inflight"] = [t for t in doc["inflight"] if t not in tokens]
            self._step("release")

    async def load_many(self, message_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {m: copy.deepcopy(self.messages[m]) for m in message_ids if m in self.messages}

    async def claim_many(self, claims: list[Claim]) -> set[str]:
        done = set()
        for claim in claims:  # like an unordered bulk write: each op on its own
            if claim.doc is not None:
                ok = await self.create(claim.doc)
            else:
                ok = await self.claim(
                    claim.message_id, seen_version=claim.seen_version, version=claim.version,
                    snapshot=claim.snapshot, pending=claim.pending,
                )
            if ok:
                done.add(claim.message_id)
        return done

    async def settle_many(self, settled: list[tuple[str, int]]) -> None:
        for message_id, version in settled:
            await self.settle(message_id, version)

    async def pending(self) -> AsyncIterator[dict[str, Any]]:
        for doc in list(self.messages.values()):
            if "pending" in doc:
                yield copy.deepcopy(doc)

    async def paused(self) -> bool:
        return self.rebuilding

    async def held_tokens(self) -> list[tuple[str, list[str]]]:
        return [(a, list(d["inflight"])) for a, d in self.accounts.items() if d["inflight"]]
