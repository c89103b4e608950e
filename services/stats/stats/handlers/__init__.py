"""The stats service at a glance: what it consumes and what does the work.

- ``relay.events.stats`` (every ``message.#`` event, single active consumer) →
  :class:`stats.consumer.EventConsumer` gathers deliveries into windows →
  :meth:`stats.batch.BatchProjector.apply_batch` (the A-D protocol of :mod:`stats.projection`)
  → ``stats_accounts`` / ``stats_messages`` through :class:`stats.store.MongoProjectionStore`.
- Every 5 s: :func:`stats.main.poll_queue_depths` → ``relay_queue_depth``, ``relay_dead_letters``.
- ``relay stats rebuild`` → :func:`stats.rebuild.rebuild` (the same delta function over ``events``).
"""

from __future__ import annotations

from shared import topology
from shared.models import MessageEvent

CONSUMES: dict[str, type] = {topology.STATS_QUEUE: MessageEvent}
