"""What one event adds to an account's counters: a pure function of the message's projected state.

A delta is a flat mapping of dotted counter paths to increments, e.g.
``{"total": 1, "byStatus.Sent": 1, "days.2026-12-01.sent": 1}``. Counters by status, direction
and type count each message once (status: the one of its highest version seen); the per-day
counters count transitions, once per event.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from shared.models import STATUS_RANK, Direction, MessageEvent, MessageStatus, MessageType

DAY_KEYS = ("sent", "delivered", "read", "failed", "received")
_LADDER = (
    (MessageStatus.SENT, "sent"),
    (MessageStatus.DELIVERED, "delivered"),
    (MessageStatus.READ, "read"),
)

Delta = dict[str, int]


@dataclass(frozen=True)
class Snapshot:
    """The projected state of one message: its highest version seen and that version's status."""

    version: int
    status: MessageStatus


def projectable(event: MessageEvent) -> bool:
    """Whether ``event`` belongs to a message (``message.rejected`` events do not)."""
    return None not in (
        event.message_id, event.whatsapp_account_id, event.user_id,
        event.direction, event.message_type, event.status,
    ) and event.version > 0


def day_of(event: MessageEvent) -> str:
    """The UTC day (``YYYY-MM-DD``) the event happened on."""
    occurred = event.occurred_at
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    return occurred.astimezone(UTC).date().isoformat()


def transition_counts(event: MessageEvent) -> list[str]:
    """Per-day counters one event moves: every delivery rung it crosses, a failure, a receipt.

    ``Sent → Read`` crosses delivered and read; ``Failed → Queued`` (a retry) crosses nothing.
    The outbound funnel (sent, delivered, read, failed) counts outbound messages only.
    """
    if event.type == "message.received":
        return ["received"]
    if event.direction != Direction.OUTBOUND or event.status is None:
        return []
    if event.status == MessageStatus.FAILED:
        return ["failed"]
    target = STATUS_RANK.get(event.status)
    if target is None:
        return []
    start = STATUS_RANK.get(event.previous_status or MessageStatus.QUEUED, 0)
    return [key for status, key in _LADDER if start < STATUS_RANK[status] <= target]


def _status_paths(direction: Direction, status: MessageStatus) -> list[str]:
    paths = [f"byStatus.{status.value}"]
    if direction == Direction.OUTBOUND:
        paths.append(f"outboundByStatus.{status.value}")
    return paths


def delta(current: Snapshot | None, event: MessageEvent) -> Delta:
    """The increments of applying ``event`` (not applied yet) to a message in state ``current``.

    ``current`` is None for a message not seen yet: the event then also counts the message.
    """
    assert event.status is not None and event.direction is not None
    assert event.message_type is not None
    inc: Counter[str] = Counter()
    day = day_of(event)
    for key in transition_counts(event):
        inc[f"days.{day}.{key}"] += 1
    if current is None:
        inc["total"] += 1
        inc[f"byDirection.{event.direction.value}"] += 1
        inc[f"byType.{event.message_type.value}"] += 1
        for path in _status_paths(event.direction, event.status):
            inc[path] += 1
    elif event.version > current.version and event.status != current.status:
        for path in _status_paths(event.direction, current.status):
            inc[path] -= 1
        for path in _status_paths(event.direction, event.status):
            inc[path] += 1
    return {path: n for path, n in inc.items() if n}


def advance(current: Snapshot | None, event: MessageEvent) -> Snapshot:
    """The message's projected state once ``event`` is applied."""
    assert event.status is not None
    if current is None or event.version > current.version:
        return Snapshot(event.version, event.status)
    return current


def empty_account(account_id: str, user_id: str) -> dict[str, Any]:
    """A zero-filled ``stats_accounts`` document: every enum value present."""
    statuses = {s.value: 0 for s in MessageStatus}
    return {
        "_id": account_id,
        "userId": user_id,
        "total": 0,
        "byStatus": dict(statuses),
        "byDirection": {d.value: 0 for d in Direction},
        "byType": {t.value: 0 for t in MessageType},
        "outboundByStatus": dict(statuses),
        "days": {},
        "inflight": [],
    }


def apply_to_doc(doc: dict[str, Any], inc: Delta) -> None:
    """Apply a delta to an account document in memory (what ``$inc`` does in the database)."""
    for path, amount in inc.items():
        *parents, leaf = path.split(".")
        target = doc
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = target.get(leaf, 0) + amount
