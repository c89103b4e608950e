"""The broker command intake: ``relay.commands`` / ``message.send`` → the same accept path.

Each :class:`~shared.models.SendMessageRequest` runs :meth:`Acceptor.accept` (exactly the rules
of ``POST /messages``) under its ``idempotencyKey``, so redelivery and republishing create one
message. A refusal is parked on ``relay.commands.rejected`` (the original body plus ``reason``
and ``code``) and announced as a ``message.rejected`` event; poison never reaches here
(:meth:`Broker.consume` dead-letters it).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage

from gateway.accept import Acceptor, SendMessageBody
from gateway.errors import ApiError
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
from shared.models import Direction, MessageEvent, SendMessageRequest, utcnow
from shared.store import EventOutbox

log = structlog.get_logger("relay.gateway.intake")
COMMAND_FIELDS = {"user_id", "idempotency_key"}
STALE_COMMAND = timedelta(seconds=30)
VIA_BROKER = "broker"


def rejected_event_id(user_id: str, key: str) -> str:
    """Deterministic: every redelivery of one refused command names the same event."""
    return "rejected:" + hashlib.sha256(f"{user_id}\x00{key}".encode()).hexdigest()[:32]


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
                                  model=SendMessageRequest, prefetch=self.prefetch)

    async def stop(self) -> None:
        return None  # Broker.close() cancels every consumer

    async def handle(self, command: SendMessageRequest, message: AbstractIncomingMessage) -> None:
        """Accept once per idempotency key; park and announce a refusal."""
        fields = command.model_dump(by_alias=True, mode="json", exclude=COMMAND_FIELDS,
                                    exclude_none=True)
        record = f"{command.user_id}:amqp:{command.idempotency_key}"
        digest = request_hash("AMQP", "message.send", canonical_json(fields))
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
            answer = await self._accept(command, fields, message)
        except BaseException:
            await self.keys.abandon(record)
            raise
        await self.keys.complete(record, answer)

    async def _created_before(self, command: SendMessageRequest) -> Answer | None:
        """The message an unfinished handling of this command created, if it got that far."""
        doc = await self.acceptor.db.messages.find_one(
            {"userId": command.user_id, "idempotencyKey": command.idempotency_key,
             "via": VIA_BROKER}, projection={"_id": 1})
        return Answer(202, {"messageId": doc["_id"]}) if doc else None

    async def _accept(self, command: SendMessageRequest, fields: dict[str, Any],
                      message: AbstractIncomingMessage) -> Answer:
        try:
            body = validate(SendMessageBody, fields)
            doc = await self.acceptor.accept(command.user_id, body, channel="amqp",
                                             idempotency_key=command.idempotency_key,
                                             via=VIA_BROKER)
        except ApiError as refusal:
            await self._park(message, command, refusal)
            return Answer(refusal.status, refusal.body())
        self.metrics.intake.labels("accepted").inc()
        log.info("command_accepted", message_id=doc["_id"], account_id=doc["whatsappAccountId"])
        return Answer(202, {"messageId": doc["_id"]})

    async def _park(self, message: AbstractIncomingMessage, command: SendMessageRequest,
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
            event_id=rejected_event_id(command.user_id, command.idempotency_key),
            type="message.rejected", occurred_at=utcnow(), message_id=None,
            user_id=command.user_id, whatsapp_account_id=command.whatsapp_account_id,
            direction=Direction.OUTBOUND, message_type=command.type, status=None,
            previous_status=None, error_message=refusal.message, reason=refusal.message,
            idempotency_key=command.idempotency_key,
        ))
        self.metrics.intake.labels("rejected").inc()
        log.info("command_rejected", code=refusal.code, reason=refusal.message[:200])
