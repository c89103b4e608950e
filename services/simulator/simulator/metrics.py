"""The simulator's Prometheus metrics, on an injected registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter


@dataclass(frozen=True)
class SimMetrics:
    """Counters of sends answered and webhooks posted (labels are small fixed sets)."""

    sends: Counter
    webhooks: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> SimMetrics:
        return cls(
            sends=Counter(
                "relay_sim_sends_total", "Send requests answered, by result.",
                ["result"], registry=registry,
            ),
            webhooks=Counter(
                "relay_sim_webhook_posts_total", "Webhook POST attempts, by kind and outcome.",
                ["kind", "outcome"], registry=registry,
            ),
        )
