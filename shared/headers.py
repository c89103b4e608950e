"""Every header name Relay reads or writes, in one place: AMQP message headers and HTTP headers.

Relay's own AMQP headers start with ``x-relay-``; the ``x-first-death-*`` ones are RabbitMQ's
(set when a message is dead-lettered). Header values Relay writes are plain numbers or strings:
times travel as integer milliseconds (AMQP floats may be single precision).
"""

from __future__ import annotations

import math

# AMQP: a deferred command (sender and publishers of send commands).
NOT_BEFORE = "x-relay-not-before"  # epoch ms before which the command must not be sent
PLANNED = "x-relay-planned"  # its pacing slot is already planned: straight to the gate on return
ATTEMPT = "x-relay-attempt"  # how many times it was tried (sender retries, ingest retries)
ASIDE = "x-relay-aside"  # set aside while its account had enough commands in hand
TRANSIENT = "x-relay-transient"  # transient failures so far (shared.redelivery's back-off)

# AMQP: the webhook inbox (ingest).
RECEIVED_AT = "x-relay-received-at"  # epoch seconds the webhook endpoint took the payload
FIRST_SEEN = "x-relay-first-seen"  # epoch seconds of the first attempt at applying it
REASON = "x-relay-reason"  # why a payload was parked
QUEUE = "x-relay-queue"  # the queue a parked payload came from

# AMQP: RabbitMQ's dead-lettering history (stripped when a dead letter is replayed).
DEATH = "x-death"
FIRST_DEATH_QUEUE = "x-first-death-queue"
FIRST_DEATH_REASON = "x-first-death-reason"
DEATH_HEADERS = (DEATH, FIRST_DEATH_QUEUE, FIRST_DEATH_REASON, "x-first-death-exchange",
                 "x-last-death-queue", "x-last-death-reason", "x-last-death-exchange")

# HTTP.
AUTHORIZATION = "Authorization"
IDEMPOTENCY_KEY = "Idempotency-Key"
REQUEST_ID = "X-Request-Id"
HUB_SIGNATURE = "X-Hub-Signature-256"  # Meta's webhook signature (HMAC-SHA256 of the body)


def not_before_ms(epoch_seconds: float) -> int:
    """The :data:`NOT_BEFORE` value of ``epoch_seconds``: milliseconds, rounded up (never early)."""
    return math.ceil(epoch_seconds * 1000)


def bearer(token: str) -> dict[str, str]:
    """The :data:`AUTHORIZATION` header that carries ``token`` as a bearer token."""
    return {AUTHORIZATION: f"Bearer {token}"}


def bearer_token(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value (any case of the scheme), or None."""
    scheme, _, token = (value or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
