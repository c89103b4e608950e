"""The eight figures of issue 8, in the order they run."""

from __future__ import annotations

from bench.figures import (
    accept,
    e2e,
    export,
    fairness,
    memory,
    pacing,
    reads,
    send,
    webhooks,
)

ORDER = {
    "accept": accept.run, "send": send.run, "e2e": e2e.run, "pacing": pacing.run,
    "fairness": fairness.run, "webhooks": webhooks.run, "reads": reads.run, "export": export.run,
    "memory": memory.run,  # last: it reports the samples the others took
}

TITLES = {
    "accept": "1. Accept", "send": "2. Send", "e2e": "3. End to end", "pacing": "4. Pacing",
    "fairness": "5. Fairness", "webhooks": "6. Webhooks", "reads": "7. Reads at scale",
    "export": "9. Export",
    "memory": "8. Memory",
}
