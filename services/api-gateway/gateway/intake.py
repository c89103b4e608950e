"""The broker command intake: ``relay.commands`` / ``message.send`` → the same accept path.

Each command (a :class:`~shared.models.SendMessageRequest`: the body of ``POST /messages`` plus
``userId`` and ``idempotencyKey``) runs :meth:`Acceptor.accept` (exactly the rules of
``POST /messages``, unknown fields refused by name as HTTP refuses them) under its
``idempotencyKey``, so redelivery and republishing create one message. A refusal — a missing
``userId`` or ``idempotencyKey`` included — is parked on ``relay.commands.rejected`` (the original
body plus ``reason`` and ``code``) and announced as a ``message.rejected`` event; only bytes that
are not a JSON object are poison (:meth:`Broker.consume` dead-letters them).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage

from gateway.accept import Acceptor, SendMessageBody
from gateway.errors import ApiError, validation_error
from gateway.idempotency import (
    Answer,
    Idempotency,
    KeyInProgress,
    KeyReused,
    canonical_json,
    request_hash,
)
from gateway.metrics import GatewayMetrics
from gateway.parsing import validate
from shared import topology
from shared.broker import Broker, Requeue
from shared.models import Direction, MessageEvent, MessageType, utcnow
from shared.store import EventOutbox

log = structlog.get_logger("relay.gateway.intake")
STALE_COMMAND = timedelta(seconds=30)
VIA_BROKER = "broker"
KEY_MAX = 200


def rejected_event_id(user_id: str, key: str) -> str:
    """Deterministic: every redelivery of one refused command names the same event."""
    return "rejected:" + hashlib.sha256(f"{user_id}\x00{key}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Command:
    """A ``message.send`` command: who asks, under which key, and the ``POST /messages`` body
    (``fields``, as published: validated by the accept path). ``user_id``/``key`` are None
    when the command lacks them (it is refused)."""

    user_id: str | None
    key: str | None
    fields: dict[str, Any]

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Command:
        user_id, key = raw.get("userId"), raw.get("idempotencyKey")
        fields = {k: v for k, v in raw.items()
                  if k not in ("userId", "idempotencyKey") and v is not None}
        return cls(user_id if isinstance(user_id, str) and user_id else None,
                   key if isinstance(key, str) and 0 < len(key) <= KEY_MAX else None, fields)

    def refusal(self) -> ApiError | None:
        """The 400 naming ``userId`` or ``idempotencyKey`` when either is missing or invalid."""
        if self.user_id is None:
            return validation_error("userId is required (a non-empty string)", "userId")
        if self.key is None:
            return validation_error(
                f"idempotencyKey is required (1 to {KEY_MAX} characters)", "idempotencyKey")
        return None

    def event_id(self) -> str:
        if self.user_id is not None and self.key is not None:
            return rejected_event_id(self.user_id, self.key)
        return "rejected:" + hashlib.sha256(canonical_json(
            [self.user_id, self.key, self.fields])).hexdigest()[:32]

    def message_type(self) -> MessageType | None:
        kind = self.fields.get("type")
        return next((t for t in MessageType if t.value == kind), None)

    def text(self, name: str) -> str | None:
        value = self.fields.get(name)
        return value if isinstance(value, str) else None


class Intake:
    """Consumes ``relay.commands.intake`` inside the gateway process."""

    def __init__(
        self, *, acceptor: Acceptor, broker: Broker, outbox: EventOutbox,
        metrics: GatewayMetrics, prefetch: int = 64,
    ) -> None:
        self.acceptor = acceptor
        self.broker = broker
        self.outbox = outbox
        self.metrics = metrics
        self.prefetch = prefetch
        # Commands are redelivered at once after a crash: an unfinished record soon counts as
        # abandoned, and the message it may have created is looked up before accepting again.
        self.keys = Idempotency(acceptor.db, stale_after=STALE_COMMAND)

    async def start(self) -> None:
        await self.broker.consume(topology.INTAKE_QUEUE, self.handle,
                                  model=dict[str, Any], prefetch=self.prefetch)

    async def stop(self) -> None:
        return None  # Broker.close() cancels every consumer

    async def handle(self, raw: dict[str, Any], message: AbstractIncomingMessage) -> None:
        """Accept once per idempotency key; park and announce a refusal."""
        command = Command.of(raw)
        missing = command.refusal()
        if missing is not None:
            await self._park(message, command, missing)
            return
        record = f"{command.user_id}:amqp:{command.key}"
        digest = request_hash("AMQP", "message.send", canonical_json(command.fields))
        try:
            stored, took_over = await self.keys.claim(record, digest)
        except KeyInProgress:
            raise Requeue("the same command is being handled") from None
        except KeyReused as exc:
            await self._park(message, command, exc)
            return
        if stored is None and took_over:
            stored = await self._created_before(command)
        if stored is not None:
            self.metrics.intake.labels("duplicate").inc()
            return
        try:
            answer = await self._accept(command, message)
        except BaseException:
            await self.keys.abandon(record)
            raise
        await self.keys.complete(record, answer)

    async def _created_before(self, command: Command) -> Answer | None:
        """The message an unfinished handling of this command created, if it got that far."""
        doc = await self.acceptor.db.messages.find_one(
            {"userId": command.user_id, "idempotencyKey": command.key,
             "via": VIA_BROKER}, projection={"_id": 1})
        return Answer(202, {"messageId": doc["_id"]}) if doc else None

    async def _accept(self, command: Command, message: AbstractIncomingMessage) -> Answer:
        assert command.user_id is not None
        try:
            body = validate(SendMessageBody, command.fields)
            doc = await self.acceptor.accept(command.user_id, body, channel="amqp",
                                             idempotency_key=command.key, via=VIA_BROKER)
        except ApiError as refusal:
            await self._park(message, command, refusal)
            return Answer(refusal.status, refusal.body())
        self.metrics.intake.labels("accepted").inc()
        log.info("command_accepted", message_id=doc["_id"], account_id=doc["whatsappAccountId"])
        return Answer(202, {"messageId": doc["_id"]})

    async def _park(self, message: AbstractIncomingMessage, command: Command,
                    refusal: ApiError) -> None:
        """Keep the refused command with its reason, and publish ``message.rejected``."""
        try:
            original = json.loads(message.body)
        except ValueError:
            original = {"raw": message.body.decode(errors="replace")}
        parked = {**original, "reason": refusal.message, "code": refusal.code,
                  "details": refusal.details}
        await self.broker.publish_to_queue(topology.REJECTED_QUEUE, parked)
        self.outbox.add_event(MessageEvent(
            event_id=command.event_id(), type="message.rejected", occurred_at=utcnow(),
            message_id=None, user_id=command.user_id,
            whatsapp_account_id=command.text("whatsappAccountId"),
            direction=Direction.OUTBOUND,
            message_type=command.message_type(),
            status=None, previous_status=None, error_message=refusal.message,
            reason=refusal.message, idempotency_key=command.key,
        ))
        self.metrics.intake.labels("rejected").inc()
        log.info("command_rejected", code=refusal.code, reason=refusal.message[:200])
