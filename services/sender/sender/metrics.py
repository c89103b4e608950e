"""The sender's Prometheus metrics, on an injected registry. Labels are bounded: never ids."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Codes from the Cloud API reference; anything else is reported as "other".
KNOWN_CODES = frozenset({
    0, 2, 4, 10, 100, 190, 368, 80007, 130429, 131000, 131008, 131009, 131016, 131021, 131026,
    131031, 131047, 131048, 131051, 131053, 131056, 131057, 132000, 132001, 132012, 133010,
})


def code_label(code: int | None, *, network: bool = False) -> str:
    """A bounded ``error_code`` label."""
    if code is None:
        return "network" if network else ""
    return str(code) if code in KNOWN_CODES else "other"


@dataclass(frozen=True)
class SenderMetrics:
    sends: Counter
    send_duration: Histogram
    deferrals: Counter
    retries: Counter
    in_flight: Gauge
    dead_letters: Gauge
    read_receipts: Counter
    shards_owned: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> SenderMetrics:
        return cls(
            sends=Counter("relay_sends_total", "Cloud API send attempts by outcome.",
                          ["outcome", "error_code"], registry=registry),
            send_duration=Histogram(
                "relay_send_duration_seconds", "Cloud API send call duration.", registry=registry,
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
            ),
            deferrals=Counter("relay_pacing_deferrals_total",
                              "Commands deferred through the delay queues, by reason.",
                              ["reason"], registry=registry),
            retries=Counter("relay_send_retries_total", "Retries scheduled after an error.",
                            registry=registry),
            in_flight=Gauge("relay_sends_in_flight", "Cloud API sends in flight.",
                            registry=registry),
            dead_letters=Gauge("relay_dead_letters", "Messages waiting in the dead-letter queue.",
                               registry=registry),
            read_receipts=Counter("relay_read_receipts_total", "Read receipts sent, by outcome.",
                                  ["outcome"], registry=registry),
            shards_owned=Gauge("relay_sender_shards_owned",
                               "Send shards this process leases and consumes.",
                               registry=registry),
        )
