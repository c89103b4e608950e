"""The seven invariants, checked against what Relay stored, what the simulator saw and what the
workload was told. Each check returns the offending items (empty when the invariant holds), so
the figures and the failure message name them."""

from __future__ import annotations

import bisect
import itertools
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from shared.db import Database
from shared.models import Direction, MessageStatus, MessageType, can_transition
from tests.chaos.workload import Ledger

DONE = {MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ}


async def unsettled(db: Database) -> list[str]:
    """Outbound messages still Queued, and messages whose event is not recorded yet."""
    queued = db.messages.find({"direction": Direction.OUTBOUND.value,
                               "status": MessageStatus.QUEUED.value}, projection={"_id": 1})
    pending = db.messages.find({"eventPending": True}, projection={"_id": 1})
    return [d["_id"] async for d in queued] + [f"event:{d['_id']}" async for d in pending]


async def lost(db: Database, ledger: Ledger) -> list[str]:
    """Invariant 1: every accepted message is Sent or later, or Failed with an errorMessage."""
    docs = {d["_id"]: d async for d in db.messages.find({"direction": "Outbound"})}
    problems = [f"{mid}: not stored" for mid in ledger.accepted if mid not in docs]
    for mid, doc in docs.items():
        status = MessageStatus(doc["status"])
        if status in DONE or status == MessageStatus.CANCELLED:
            continue
        if status == MessageStatus.FAILED and doc.get("errorMessage"):
            continue
        problems.append(f"{mid}: {status.value} errorMessage={doc.get('errorMessage')!r}")
    return problems


def double_sends(counts: dict[str, int]) -> dict[str, int]:
    """Invariant 2: the simulator accepted at most one send per message."""
    return {mid: n for mid, n in counts.items() if n > 1}


async def backwards(db: Database) -> list[str]:
    """Invariant 3: per message, the event log climbs version by version, forward only, and ends
    where the message document is."""
    by_message: dict[str, list[dict[str, Any]]] = defaultdict(list)
    async for event in db.events.find({"messageId": {"$ne": None}}):
        by_message[event["messageId"]].append(event)
    docs = {d["_id"]: d async for d in db.messages.find({}, projection={"status": 1, "version": 1})}
    problems = []
    for mid, events in by_message.items():
        events.sort(key=lambda e: e["version"])
        versions = [e["version"] for e in events]
        if versions != list(range(1, len(events) + 1)):
            problems.append(f"{mid}: versions {versions}")
        for before, after in itertools.pairwise(events):
            if after.get("previousStatus") != before["status"] or not can_transition(
                MessageStatus(before["status"]), MessageStatus(after["status"]),
                retry=after["status"] == MessageStatus.QUEUED.value,
            ):
                problems.append(f"{mid}: {before['status']} -> {after['status']}")
        doc = docs.get(mid)
        if doc is None or doc["version"] != versions[-1] or doc["status"] != events[-1]["status"]:
            problems.append(f"{mid}: document {doc} vs last event v{versions[-1]}")
    problems += [f"{mid}: no events" for mid in docs if mid not in by_message]
    return problems


async def counted(db: Database, user_id: str, account_id: str | None = None) -> dict[str, Any]:
    """The statistics as a count over the messages themselves."""
    query: dict[str, Any] = {"userId": user_id}
    if account_id:
        query["whatsappAccountId"] = account_id
    docs = [d async for d in db.messages.find(query, projection={
        "status": 1, "direction": 1, "type": 1})]
    return {
        "total": len(docs),
        "byStatus": {s.value: sum(d["status"] == s.value for d in docs) for s in MessageStatus},
        "byDirection": {v.value: sum(d["direction"] == v.value for d in docs) for v in Direction},
        "byType": {t.value: sum(d["type"] == t.value for d in docs) for t in MessageType},
    }


def counter_mismatches(reported: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Invariant 4: every figure of ``/messages/statistics`` equals the count."""
    problems = []
    if reported.get("total") != expected["total"]:
        problems.append(f"total {reported.get('total')} != {expected['total']}")
    for group in ("byStatus", "byDirection", "byType"):
        for key, value in expected[group].items():
            got = (reported.get(group) or {}).get(key)
            if got != value:
                problems.append(f"{group}.{key} {got} != {value}")
    return problems


def window_violations(sends: list[dict[str, Any]], rate_of: dict[str, int]) -> list[str]:
    """Invariant 5a: no phone number over its ratePerMinute in any 60-second window."""
    times: dict[str, list[float]] = defaultdict(list)
    for send in sends:
        times[send["phoneNumberId"]].append(float(send["at"]))
    problems = []
    for pnid, stamps in times.items():
        stamps.sort()
        limit = rate_of.get(pnid)
        if limit is None:
            continue
        worst = max(bisect.bisect_left(stamps, t + 60.0) - i for i, t in enumerate(stamps))
        if worst > limit:
            problems.append(f"{pnid}: {worst} sends in 60 s > {limit}")
    return problems


async def daily_violations(db: Database, sends: list[dict[str, Any]],
                           accounts: dict[str, dict[str, Any]]) -> list[str]:
    """Invariant 5b: per account and UTC day, sends and the usage counter within dailyLimit."""
    by_pnid = {a["phoneNumberId"]: a for a in accounts.values()}
    days = Counter(
        (send["phoneNumberId"], datetime.fromtimestamp(send["at"], UTC).date().isoformat())
        for send in sends
    )
    problems = [f"{pnid} {day}: {n} sends > {by_pnid[pnid]['dailyLimit']}"
                for (pnid, day), n in days.items()
                if pnid in by_pnid and n > by_pnid[pnid]["dailyLimit"]]
    for counter in (db.daily_usage, db.daily_sends):  # acceptances; the sender's calls
        async for usage in counter.find({}):
            account_id = str(usage["_id"]).split(":", 1)[0]
            limit = accounts.get(account_id, {}).get("dailyLimit")
            if limit is not None and usage.get("count", 0) > limit:
                problems.append(f"{counter.name} {usage['_id']}: {usage['count']} > {limit}")
    return problems


async def inbound_problems(db: Database, ledger: Ledger) -> list[str]:
    """Each injected inbound wamid is stored exactly once (duplicates deduplicated)."""
    found = Counter()
    async for doc in db.messages.find({"direction": "Inbound"}, projection={
            "whatsappMessageId": 1}):
        found[doc.get("whatsappMessageId")] += 1
    problems = [f"{w}: stored {found[w]} times" for w in ledger.inbound_wamids if found[w] != 1]
    problems += [f"{w}: not injected" for w in found if w not in ledger.inbound_wamids]
    return problems
