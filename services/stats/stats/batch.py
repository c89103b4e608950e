"""The projection protocol for a window of events at once: the same four steps, batched.

A round takes at most one event per message. Step A for the round is one bulk write; step B is
one update per account carrying the summed delta and all the round's tokens of that account
(atomic on the account doc, so "token held" still means "delta counted"); C is one bulk write and
D one ``$pull`` per account. Events a round could not claim, and further events of a message
already in the round, go to the next round. Crash recovery is the per-event one
(:meth:`Projector.recover`, and :meth:`Projector._finish` for a message found pending). While
``relay stats rebuild`` holds its lease, windows wait (their deliveries stay unacked).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from shared.broker import Requeue
from shared.models import MessageEvent
from stats.counters import Delta, advance, delta, projectable
from stats.projection import (
    MAX_ATTEMPTS,
    Claim,
    Outcome,
    ProjectionConflict,
    Projector,
    _pending,
    _snapshot,
    token_of,
)


class RebuildInProgress(Requeue):
    """The window was abandoned for a rebuild; its deliveries go back to the queue."""


def _rounds(items: list[tuple[int, MessageEvent]]) -> tuple[list[Any], list[Any]]:
    """The first event of each message, and the rest (for later rounds)."""
    first: dict[str, tuple[int, MessageEvent]] = {}
    rest = []
    for index, event in items:
        assert event.message_id is not None
        if event.message_id in first:
            rest.append((index, event))
        else:
            first[event.message_id] = (index, event)
    return list(first.values()), rest


class BatchProjector(Projector):
    """A :class:`Projector` that also applies many events in a few round trips."""

    pause_poll_seconds = 1.0

    async def apply_batch(self, events: list[MessageEvent]) -> list[Outcome]:
        """Apply every event once; the outcomes in the order of ``events``."""
        outcomes: list[Outcome | None] = [None] * len(events)
        todo = []
        for index, event in enumerate(events):
            if projectable(event):
                todo.append((index, event))
            else:
                outcomes[index] = Outcome.SKIPPED
        if todo:
            # A rebuild is replacing the read model; its lease lives in the database.
            while await self._store.paused():  # noqa: ASYNC110
                await asyncio.sleep(self.pause_poll_seconds)
            await self.recovered()
        attempts = 0
        while todo:
            attempts += 1
            if attempts > MAX_ATTEMPTS * 4:
                raise ProjectionConflict(todo[0][1].event_id)
            round_items, later = _rounds(todo)
            retry = await self._round(round_items, outcomes)
            todo = retry + later
        return [o if o is not None else Outcome.SKIPPED for o in outcomes]

    async def _round(
        self, items: list[tuple[int, MessageEvent]], outcomes: list[Outcome | None]
    ) -> list[tuple[int, MessageEvent]]:
        ids = [e.message_id for _, e in items if e.message_id is not None]
        async with self._serial_many(ids):
            docs = await self._store.load_many(ids)
            stuck = [doc for doc in docs.values() if "pending" in doc]
            for stuck_doc in stuck:
                await self._finish(stuck_doc)
            if stuck:
                docs.update(await self._store.load_many([d["_id"] for d in stuck]))
            claims, deltas, releases = [], {}, defaultdict(list)
            for index, event in items:
                doc = docs.get(event.message_id or "")
                if doc is not None and event.version in doc["applied"]:
                    releases[doc["accountId"]].append(token_of(doc["_id"], event.version))
                    outcomes[index] = Outcome.DUPLICATE
                    continue
                claim, inc = self._claim(doc, event)
                claims.append((index, event, doc, claim))
                deltas[claim.message_id] = inc
            claimed = await self._store.claim_many([c for *_, c in claims]) if claims else set()
            groups: dict[str, list[tuple[str, int, Delta]]] = defaultdict(list)
            users: dict[str, str] = {}
            retry = []
            for index, event, doc, claim in claims:
                if claim.message_id not in claimed:
                    retry.append((index, event))
                    continue
                account: str = doc["accountId"] if doc else event.whatsapp_account_id or ""
                users[account] = (doc or {}).get("userId") or event.user_id or ""
                groups[account].append((claim.message_id, claim.version, deltas[claim.message_id]))
                outcomes[index] = Outcome.APPLIED
            if groups and await self._store.paused():
                # A rebuild began meanwhile: it counts these events from the log; a B now
                # could land on its fresh documents and count them twice.
                raise RebuildInProgress("relay stats rebuild is running")
            await self._complete_groups(groups, users, releases)
        return retry

    def _claim(self, doc: dict[str, Any] | None, event: MessageEvent) -> tuple[Claim, Delta]:
        current = _snapshot(doc)
        inc = delta(current, event)
        pending = _pending(event, inc)
        assert event.message_id is not None
        return Claim(
            message_id=event.message_id, version=event.version,
            seen_version=current.version if current else 0,
            snapshot=advance(current, event), pending=pending,
            doc=None if doc is not None else self._new_doc(event, pending),
        ), inc

    async def _complete_groups(
        self,
        groups: dict[str, list[tuple[str, int, Delta]]],
        users: dict[str, str],
        releases: dict[str, list[str]],
    ) -> None:
        """Steps B (one update per account), C (one bulk write), D (one pull per account)."""

        async def increment(account: str, members: list[tuple[str, int, Delta]]) -> None:
            total: defaultdict[str, int] = defaultdict(int)
            for _, _, inc in members:
                for path, n in inc.items():
                    total[path] += n
            tokens = [token_of(m, v) for m, v, _ in members]
            summed = {p: n for p, n in total.items() if n}
            if not await self._increment(account, users[account], tokens, summed):
                for m, v, inc in members:  # some token was held: fall back to one by one
                    await self._increment(account, users[account], [token_of(m, v)], inc)

        await asyncio.gather(*(increment(a, m) for a, m in groups.items()))
        await self._store.settle_many([(m, v) for ms in groups.values() for m, v, _ in ms])
        for account, members in groups.items():
            releases[account].extend(token_of(m, v) for m, v, _ in members)
        await asyncio.gather(*(
            self._store.release(a, tokens) for a, tokens in releases.items() if tokens
        ))

    @contextlib.asynccontextmanager
    async def _serial_many(self, message_ids: list[str]) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for message_id in sorted(set(message_ids)):  # one order: no deadlock
                await stack.enter_async_context(self._serial(message_id))
            yield
