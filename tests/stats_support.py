"""Randomized message histories for the stats tests, and independent oracles for their counters.

The oracles do not use the projection's code: status, direction and type counts come from the
final message documents (what a count over ``messages`` gives), and per-day counts from a table
written by hand of what each transition means.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from relay import embedded
from shared.models import EVENT_TYPES, Direction, MessageEvent, MessageStatus, MessageType

Q, S, D, R, F, C = (MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.DELIVERED,
                    MessageStatus.READ, MessageStatus.FAILED, MessageStatus.CANCELLED)

OUTBOUND_PATHS = [
    [Q], [Q, S], [Q, S, D], [Q, S, D, R], [Q, S, R], [Q, F], [Q, S, F], [Q, S, D, F],
    [Q, F, Q, S, D], [Q, F, Q, F], [Q, C], [Q, D, R],
]
INBOUND_PATHS = [[D], [D, R]]

# What each transition adds to the day of the event, by hand (the oracle).
OUTBOUND_DAYS: dict[tuple[MessageStatus | None, MessageStatus], list[str]] = {
    (None, Q): [], (Q, S): ["sent"], (S, D): ["delivered"], (D, R): ["read"],
    (S, R): ["delivered", "read"], (Q, D): ["sent", "delivered"], (Q, F): ["failed"],
    (S, F): ["failed"], (D, F): ["failed"], (F, Q): [], (Q, C): [],
}
INBOUND_DAYS = {(None, D): ["received"], (D, R): []}


@dataclass
class History:
    """One message: its final document and every event of its life."""

    doc: dict[str, Any]
    events: list[MessageEvent]
    days: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (account, day, key)


def make_history(
    rng: random.Random, *, user_id: str, account_id: str, start: datetime
) -> History:
    inbound = rng.random() < 0.25
    direction = Direction.INBOUND if inbound else Direction.OUTBOUND
    path = rng.choice(INBOUND_PATHS if inbound else OUTBOUND_PATHS)
    kind = rng.choice(list(MessageType))
    message_id = str(uuid.uuid4())
    at = start
    events, days = [], Counter[tuple[str, str, str]]()
    previous: MessageStatus | None = None
    for version, status in enumerate(path, start=1):
        at += timedelta(hours=rng.choice([0.01, 1, 7, 20]))  # histories cross UTC days
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        table = INBOUND_DAYS if inbound else OUTBOUND_DAYS
        for key in table[(previous, status)]:
            days[(account_id, at.date().isoformat(), key)] += 1
        kind_of_event = "message.received" if inbound and previous is None else EVENT_TYPES[status]
        events.append(MessageEvent(
            event_id=f"{message_id}:{version}", type=kind_of_event,  # type: ignore[arg-type]
            occurred_at=at, message_id=message_id, user_id=user_id,
            whatsapp_account_id=account_id, direction=direction, message_type=kind,
            status=status, previous_status=previous, version=version,
        ))
        previous = status
    doc = {
        "_id": message_id, "userId": user_id, "whatsappAccountId": account_id,
        "direction": direction.value, "type": kind.value, "status": path[-1].value,
        "version": len(path), "createdAt": start, "updatedAt": at,
    }
    return History(doc=doc, events=events, days=days)


def make_histories(
    rng: random.Random, *, messages: int, users: int = 3, accounts_per_user: int = 2
) -> list[History]:
    owners = [
        (f"user-{u}-{uuid.uuid4().hex[:6]}", f"acct-{u}-{a}-{uuid.uuid4().hex[:6]}")
        for u in range(users) for a in range(accounts_per_user)
    ]
    start = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)
    out = []
    for _ in range(messages):
        user_id, account_id = rng.choice(owners)
        out.append(make_history(rng, user_id=user_id, account_id=account_id, start=start))
    return out


def shuffled_with_duplicates(
    rng: random.Random, histories: list[History], *, duplicates: float = 0.3
) -> list[MessageEvent]:
    """Every event at least once, some twice or three times, in a random order."""
    events = [e for h in histories for e in h.events]
    extra = [rng.choice(events) for _ in range(int(len(events) * duplicates))]
    stream = events + extra
    rng.shuffle(stream)
    return stream


def count_over_messages(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per account: what counting the message documents themselves gives."""
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "total": 0, "byStatus": Counter(), "byDirection": Counter(), "byType": Counter(),
        "outboundByStatus": Counter(),
    })
    for doc in docs:
        acc = out[doc["whatsappAccountId"]]
        acc["userId"] = doc["userId"]
        acc["total"] += 1
        acc["byStatus"][doc["status"]] += 1
        acc["byDirection"][doc["direction"]] += 1
        acc["byType"][doc["type"]] += 1
        if doc["direction"] == Direction.OUTBOUND.value:
            acc["outboundByStatus"][doc["status"]] += 1
    return dict(out)


def expected_days(histories: list[History]) -> dict[str, dict[str, dict[str, int]]]:
    """Per account, per day, per key: what the hand-written transition table gives."""
    out: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for history in histories:
        for (account, day, key), n in history.days.items():
            out[account][day][key] = out[account][day].get(key, 0) + n
    return {a: dict(days) for a, days in out.items()}


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def assert_counters_match(
    accounts: dict[str, dict[str, Any]],
    messages: list[dict[str, Any]],
    histories: list[History] | None = None,
) -> None:
    """Every account's and user's counters equal the oracles' (zero entries ignored)."""
    truth = count_over_messages(messages)
    assert set(accounts) == set(truth), "accounts with counters differ from accounts with messages"
    for account_id, want in truth.items():
        got = accounts[account_id]
        assert got["userId"] == want["userId"]
        assert got["total"] == want["total"], account_id
        for field_name in ("byStatus", "byDirection", "byType", "outboundByStatus"):
            assert nonzero(got[field_name]) == dict(want[field_name]), (account_id, field_name)
        for enum, field_name in ((MessageStatus, "byStatus"), (Direction, "byDirection"),
                                 (MessageType, "byType")):
            assert set(got[field_name]) >= {e.value for e in enum}, "every enum value present"
        assert not got.get("inflight"), "no half-applied event left"
    if histories is not None:
        days = expected_days(histories)
        for account_id, got in accounts.items():
            have = {d: nonzero(c) for d, c in got["days"].items() if any(c.values())}
            assert have == days.get(account_id, {}), (account_id, "days")
    users: dict[str, Counter[str]] = defaultdict(Counter)
    for doc in accounts.values():
        users[doc["userId"]].update({f"s.{k}": v for k, v in doc["byStatus"].items()})
        users[doc["userId"]]["total"] += doc["total"]
    for user_id, counts in users.items():
        mine = [m for m in messages if m["userId"] == user_id]
        assert counts["total"] == len(mine)
        assert nonzero({k[2:]: v for k, v in counts.items() if k.startswith("s.")}) == dict(
            Counter(m["status"] for m in mine)
        )


@pytest.fixture(name="amqp_url")
def own_vhost(rabbitmq: None) -> Iterator[str]:
    """One vhost of its own, for e2e modules that need exactly one (import it as a fixture)."""
    name = f"relay-e2e-{uuid.uuid4().hex[:10]}"
    url = embedded.create_vhost(name)
    yield url
    embedded.delete_vhosts([name])
