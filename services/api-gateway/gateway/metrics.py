"""The gateway's Prometheus metrics, on an injected registry (labels are bounded enums)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.observability import request_duration


@dataclass(frozen=True)
class GatewayMetrics:
    """Every gateway metric; build one per app with :meth:`create`."""

    http: Histogram
    accepted: Counter
    refused: Counter
    publish_failures: Counter
    idempotent_replays: Counter
    intake: Counter
    auth_failures: Counter
    exported_rows: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> GatewayMetrics:
        return cls(
            http=request_duration(registry),
            accepted=Counter("relay_gateway_messages_accepted_total",
                             "Messages accepted, by type and channel.", ["type", "channel"],
                             registry=registry),
            refused=Counter("relay_gateway_messages_refused_total",
                            "Send requests refused, by error code and channel.",
                            ["code", "channel"], registry=registry),
            publish_failures=Counter("relay_gateway_publish_failures_total",
                                     "Send commands left for the outbox sweep (broker down).",
                                     registry=registry),
            idempotent_replays=Counter("relay_gateway_idempotent_replays_total",
                                       "Requests answered from a stored idempotent answer.",
                                       registry=registry),
            intake=Counter("relay_gateway_intake_commands_total",
                           "Broker send commands handled, by outcome.", ["outcome"],
                           registry=registry),
            auth_failures=Counter("relay_gateway_auth_failures_total",
                                  "Requests refused by authentication, by status.", ["status"],
                                  registry=registry),
            exported_rows=Counter("relay_gateway_exported_rows_total",
                                  "Messages written by GET /messages/export, by format.",
                                  ["format"], registry=registry),
        )
