"""The delta function: what one event adds to the counters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.models import Direction, MessageEvent, MessageStatus, MessageType
from stats.counters import Snapshot, advance, delta, empty_account, projectable, transition_counts

pytestmark = pytest.mark.unit

S = MessageStatus


def event(
    status: MessageStatus, previous: MessageStatus | None, *, version: int = 2,
    direction: Direction = Direction.OUTBOUND, kind: str | None = None,
    at: datetime = datetime(2026, 12, 1, 23, 59, tzinfo=UTC),
) -> MessageEvent:
    return MessageEvent(
        event_id=f"m1:{version}", type=kind or f"message.{status.value.lower()}",  # type: ignore[arg-type]
        occurred_at=at, message_id="m1", user_id="u1", whatsapp_account_id="a1",
        direction=direction, message_type=MessageType.TEXT, status=status,
        previous_status=previous, version=version,
    )


class TestTransitionCounts:
    """Per-day counters count the rungs an event crosses, failures and receipts."""

    @pytest.mark.parametrize(("previous", "status", "expected"), [
        (None, S.QUEUED, []),
        (S.QUEUED, S.SENT, ["sent"]),
        (S.SENT, S.DELIVERED, ["delivered"]),
        (S.DELIVERED, S.READ, ["read"]),
        (S.SENT, S.READ, ["delivered", "read"]),
        (S.QUEUED, S.READ, ["sent", "delivered", "read"]),
        (S.SENT, S.FAILED, ["failed"]),
        (S.FAILED, S.QUEUED, []),
        (S.QUEUED, S.CANCELLED, []),
    ])
    def test_outbound_transitions(self, previous, status, expected) -> None:
        assert transition_counts(event(status, previous)) == expected

    def test_inbound_creation_counts_received(self) -> None:
        received = event(S.DELIVERED, None, direction=Direction.INBOUND, kind="message.received")
        assert transition_counts(received) == ["received"]

    def test_inbound_read_is_not_in_the_outbound_funnel(self) -> None:
        read = event(S.READ, S.DELIVERED, direction=Direction.INBOUND)
        assert transition_counts(read) == []


class TestDelta:
    """A message counts once by direction and type, and once under its highest version's status."""

    def test_first_event_counts_the_message(self) -> None:
        assert delta(None, event(S.SENT, S.QUEUED)) == {
            "total": 1, "byDirection.Outbound": 1, "byType.Text": 1, "byStatus.Sent": 1,
            "outboundByStatus.Sent": 1, "days.2026-12-01.sent": 1,
        }

    @pytest.mark.parametrize("kind", [MessageType.TEMPLATE, MessageType.INTERACTIVE,
                                      MessageType.LOCATION, MessageType.REACTION,
                                      MessageType.UNSUPPORTED])
    def test_every_type_counts_under_its_own_key(self, kind: MessageType) -> None:
        received = event(S.DELIVERED, None, version=1, direction=Direction.INBOUND,
                         kind="message.received").model_copy(update={"message_type": kind})
        got = delta(None, received)
        assert got[f"byType.{kind.value}"] == 1 and got["byDirection.Inbound"] == 1
        doc = empty_account("a1", "u1")
        assert doc["byType"][kind.value] == 0

    def test_higher_version_moves_the_status(self) -> None:
        got = delta(Snapshot(2, S.SENT), event(S.READ, S.SENT, version=3))
        assert got == {
            "byStatus.Sent": -1, "byStatus.Read": 1, "outboundByStatus.Sent": -1,
            "outboundByStatus.Read": 1, "days.2026-12-01.delivered": 1, "days.2026-12-01.read": 1,
        }

    def test_older_event_after_a_newer_one_counts_only_its_day(self) -> None:
        got = delta(Snapshot(3, S.READ), event(S.SENT, S.QUEUED, version=2))
        assert got == {"days.2026-12-01.sent": 1}
        older = event(S.SENT, S.QUEUED, version=2)
        assert advance(Snapshot(3, S.READ), older) == Snapshot(3, S.READ)

    def test_inbound_messages_stay_out_of_outbound_by_status(self) -> None:
        got = delta(None, event(S.DELIVERED, None, direction=Direction.INBOUND,
                                kind="message.received", version=1))
        assert "outboundByStatus.Delivered" not in got
        assert got["byStatus.Delivered"] == 1 and got["byDirection.Inbound"] == 1

    def test_day_is_the_utc_day_of_occurred_at(self) -> None:
        from datetime import timedelta, timezone

        late = datetime(2026, 12, 2, 1, 0, tzinfo=timezone(timedelta(hours=3)))  # 22:00 UTC on 1st
        assert "days.2026-12-01.sent" in delta(None, event(S.SENT, S.QUEUED, at=late))

    def test_rejected_events_are_not_projectable(self) -> None:
        rejected = MessageEvent(
            event_id="r1", type="message.rejected", occurred_at=datetime.now(UTC),
            message_id=None, user_id="u1", whatsapp_account_id="a1", direction=None,
            message_type=None, status=None, previous_status=None,
        )
        assert not projectable(rejected)


class TestEmptyAccount:
    """Account documents start with every enum value at zero."""

    def test_zero_filled(self) -> None:
        doc = empty_account("a1", "u1")
        assert set(doc["byStatus"]) == {s.value for s in MessageStatus}
        assert set(doc["byType"]) == {t.value for t in MessageType}
        assert set(doc["byDirection"]) == {"Inbound", "Outbound"}
        assert not any(doc["byStatus"].values()) and doc["total"] == 0
