"""Bookkeeping of deliveries that come back through the delay queues, and the small payloads
that carry a single status or message back to the inbox."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.headers import ATTEMPT, FIRST_SEEN, RECEIVED_AT

FIRST_RETRY_MS = 250.0
MAX_RETRY_MS = 60_000.0


@dataclass(frozen=True)
class Delivery:
    """How often a payload has been tried, and since when (from its headers)."""

    attempt: int
    first_seen: float

    @classmethod
    def of(cls, headers: Mapping[str, Any]) -> Delivery:
        first = number(headers.get(FIRST_SEEN)) or number(headers.get(RECEIVED_AT))
        return cls(int(number(headers.get(ATTEMPT)) or 0), first or time.time())

    @property
    def age(self) -> float:
        return time.time() - self.first_seen

    @property
    def delay_ms(self) -> float:
        """Backoff before the next try: 0.25 s doubling, capped at a minute."""
        return float(min(FIRST_RETRY_MS * 2.0**self.attempt, MAX_RETRY_MS))

    def next_headers(self) -> dict[str, Any]:
        return {ATTEMPT: self.attempt + 1, FIRST_SEEN: f"{self.first_seen:.6f}"}


def synthetic_payload(
    phone_number_id: str, *, statuses: list[dict[str, Any]] | None = None,
    messages: list[dict[str, Any]] | None = None, contacts: list[dict[str, Any]] | None = None,
) -> bytes:
    """A webhook payload holding only the given items, as Meta would have sent them alone."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": phone_number_id},
    }
    for key, items in (("contacts", contacts), ("messages", messages), ("statuses", statuses)):
        if items:
            value[key] = items
    payload = {"object": "whatsapp_business_account",
               "entry": [{"id": "relay-retry", "changes": [{"field": "messages", "value": value}]}]}
    return json.dumps(payload, separators=(",", ":")).encode()


def number(value: Any) -> float | None:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
