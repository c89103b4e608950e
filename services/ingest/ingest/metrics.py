"""Ingest's Prometheus metrics, on an injected registry. Labels are bounded: no ids, no phones."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

WEBHOOK_OUTCOMES = ("accepted", "bad_signature", "too_large", "bad_json", "broker_down")


@dataclass(frozen=True)
class IngestMetrics:
    webhooks: Counter
    events: Counter
    inbox_lag: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> IngestMetrics:
        webhooks = Counter(
            "relay_webhooks_total", "Webhook POSTs by outcome.", ["outcome"], registry=registry
        )
        for outcome in WEBHOOK_OUTCOMES:
            webhooks.labels(outcome)
        return cls(
            webhooks=webhooks,
            events=Counter(
                "relay_webhook_events_total",
                "Webhook events (message, status, error, payload) by outcome.",
                ["kind", "outcome"], registry=registry,
            ),
            inbox_lag=Histogram(
                "relay_inbox_lag_seconds",
                "Time from the webhook's receipt to its processing by the inbox worker.",
                registry=registry,
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            ),
        )

    def event(self, kind: str, outcome: str, amount: int = 1) -> None:
        self.events.labels(kind, outcome).inc(amount)
