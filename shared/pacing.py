"""Start slots per account (:class:`Planner`), shared by the gateway and the sender.

The sender plans every command it takes off a shard: a command whose slot is in the future is
deferred through the delay queues. The gateway plans too, when it dispatches a newly accepted
message (:func:`publish_send`): a command planned more than :data:`AHEAD_SECONDS` out goes
straight into the delay queues instead of the shard queue, so an account that was handed a
backlog of 100,000 messages never puts 100,000 commands in front of another account's message
on the same shard (head-of-line blocking). The gateway's plan is a hint — several gateways plan
independently — and the sender's gate stays the one exact rule.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable

from shared import topology
from shared.broker import Broker
from shared.headers import NOT_BEFORE, not_before_ms
from shared.models import SendMessage

WINDOW_SECONDS = 60.0
# Margin for timestamps truncated to milliseconds and for the receiver's clock granularity.
SAFETY_SECONDS = 0.05
# A command planned further out than this is published to the delay queues, not the shard.
AHEAD_SECONDS = 1.0


class Planner:
    """Planned start slots, the latest ``rate``: slot ``k + rate`` >= slot ``k`` + window."""

    def __init__(self, rate: int, *, window: float = WINDOW_SECONDS + SAFETY_SECONDS) -> None:
        self.rate = rate
        self.window = window
        self._slots: deque[float] = deque(maxlen=rate)

    def plan(self, now: float) -> float:
        """The start slot for one more message (``now`` when the plan has room)."""
        slot = now
        if len(self._slots) >= self.rate:
            slot = max(now, self._slots[0] + self.window)
        if self._slots and slot < self._slots[-1]:
            slot = self._slots[-1]
        self._slots.append(slot)
        return slot

    def release(self, slot: float) -> None:
        """A planned message will not be sent after all (gone, cancelled, scheduled later)."""
        try:
            self._slots.remove(slot)
        except ValueError:
            return

    def seed(self, times: Iterable[float]) -> None:
        for at in sorted(times):
            self._slots.append(at)

    def resize(self, rate: int) -> None:
        if rate != self.rate:
            self.rate = rate
            self._slots = deque(self._slots, maxlen=rate)


async def publish_send(
    broker: Broker, command: SendMessage, *, planner: Planner | None = None,
    message_id: str | None = None,
) -> None:
    """Publish a send command (confirmed): to its shard, or, when ``planner`` puts it more than
    :data:`AHEAD_SECONDS` ahead, to the delay queues with ``x-relay-not-before`` at its slot."""
    route = topology.shard_key(topology.shard_of(command.whatsapp_account_id, broker.shards))
    now = time.time()
    slot = planner.plan(now) if planner is not None else now
    if slot - now > AHEAD_SECONDS:
        await broker.defer(route, command.to_json(), delay_ms=(slot - now) * 1000,
                           headers={NOT_BEFORE: not_before_ms(slot)})
        return
    await broker.publish(topology.SEND, route, command, message_id=message_id)
