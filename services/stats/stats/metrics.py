"""The stats service's Prometheus metrics, on an injected registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass(frozen=True)
class StatsMetrics:
    """Projection progress, broker queue depths and the use of the daily limits."""

    events: Counter
    recoveries: Counter
    lag: Gauge
    queue_depth: Gauge
    dead_letters: Gauge
    near_daily_limit: Gauge
    daily_limit_ratio: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> StatsMetrics:
        return cls(
            events=Counter(
                "relay_projection_events_total",
                "Events consumed by the stats projection, by outcome "
                "(applied, duplicate, skipped, failed).",
                ["outcome"], registry=registry,
            ),
            recoveries=Counter(
                "relay_projection_recoveries_total",
                "Half-applied events (left by a crash) finished by the recovery scan.",
                registry=registry,
            ),
            lag=Gauge(
                "relay_projection_lag_seconds",
                "Now minus occurredAt of the last event applied, measured when it was applied.",
                registry=registry,
            ),
            queue_depth=Gauge(
                "relay_queue_depth",
                "Messages ready in each Relay queue (polled every few seconds).",
                ["queue"], registry=registry,
            ),
            dead_letters=Gauge(
                "relay_dead_letters",
                "Messages waiting in the dead-letter queue relay.dead.",
                registry=registry,
            ),
            near_daily_limit=Gauge(
                "relay_accounts_near_daily_limit",
                "Accounts that have used 90 % or more of today's daily limit (UTC day).",
                registry=registry,
            ),
            daily_limit_ratio=Gauge(
                "relay_daily_limit_usage_ratio_max",
                "The highest share of its daily limit any account has used today (UTC day).",
                registry=registry,
            ),
        )
