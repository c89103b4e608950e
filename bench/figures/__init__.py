"""The eight figures of issue 8, in the order they run."""

from __future__ import annotations

from bench.figures import accept, e2e, fairness, memory, pacing, reads, send, webhooks

ORDER = {
    "accept": accept.run, "send": send.run, "e2e": e2e.run, "webhooks": webhooks.run,
    "fairness": fairness.run, "pacing": pacing.run, "reads": reads.run, "memory": memory.run,
}
