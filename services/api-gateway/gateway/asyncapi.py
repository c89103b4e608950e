"""The AsyncAPI 3.0 document of the broker interface, generated from the wire models.

Two channels on the contract's exchanges: commands in (``relay.commands``, routing key
``message.send``, refused ones parked on ``relay.commands.rejected``) and events out
(``relay.events``, one routing key per event type). Served at ``GET /api/v1/asyncapi.json``.
"""

from __future__ import annotations

import typing
from importlib import metadata
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from gateway.errors import dumps
from gateway.spec import operation
from shared import topology
from shared.models import EventType, MessageEvent, SendMessageRequest

REF = "#/components/schemas/{model}"
EVENT_TYPES: tuple[str, ...] = typing.get_args(EventType)
AMQP_BINDING = "0.3.0"


def _schemas(*models: type[BaseModel]) -> dict[str, Any]:
    """JSON Schemas of ``models`` (camelCase) with nested definitions hoisted alongside."""
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(by_alias=True, ref_template=REF, mode="serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def _exchange(name: str) -> dict[str, Any]:
    return {"amqp": {"is": "routingKey", "bindingVersion": AMQP_BINDING, "exchange": {
        "name": name, "type": "topic", "durable": True, "autoDelete": False}}}


def _message(name: str, summary: str, model: type[BaseModel]) -> dict[str, Any]:
    return {"name": name, "title": name, "summary": summary, "contentType": "application/json",
            "payload": {"$ref": REF.format(model=model.__name__)}}


def _channels() -> dict[str, Any]:
    event_keys = ", ".join(f"`{key}`" for key in EVENT_TYPES)
    return {
        "commands": {
            "address": "message.send",
            "title": f"Send commands ({topology.COMMANDS})",
            "description": f"Publish a send command on the `{topology.COMMANDS}` topic exchange "
                           "with routing key `message.send`. Delivery is at-least-once: the "
                           "`idempotencyKey` makes repeats create one message.",
            "messages": {
                "SendMessageRequest": {"$ref": "#/components/messages/SendMessageRequest"}},
            "bindings": _exchange(topology.COMMANDS),
        },
        "rejectedCommands": {
            "address": topology.REJECTED_QUEUE,
            "title": "Refused commands",
            "description": "Every refused command, as published, plus `reason`, `code` and "
                           "`details`. A durable queue an operator can read.",
            "messages": {"RejectedCommand": {"$ref": "#/components/messages/RejectedCommand"}},
            "bindings": {"amqp": {"is": "queue", "bindingVersion": AMQP_BINDING, "queue": {
                "name": topology.REJECTED_QUEUE, "durable": True, "exclusive": False,
                "autoDelete": False}}},
        },
        "events": {
            "address": "{eventType}",
            "title": f"Message events ({topology.EVENTS})",
            "description": f"Every state change of every message on the `{topology.EVENTS}` "
                           f"topic exchange; the routing key is the event type: {event_keys}. "
                           "Bind your own queue (e.g. to `message.#`); dedupe on `eventId`.",
            "parameters": {"eventType": {"enum": list(EVENT_TYPES),
                                         "description": "The event type (routing key)."}},
            "messages": {"MessageEvent": {"$ref": "#/components/messages/MessageEvent"}},
            "bindings": _exchange(topology.EVENTS),
        },
    }


def _operations() -> dict[str, Any]:
    def op(action: str, channel: str, message: str, summary: str) -> dict[str, Any]:
        return {"action": action, "summary": summary, "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}]}

    return {
        "sendMessage": op("receive", "commands", "SendMessageRequest",
                          "Relay receives send commands and applies the HTTP API's rules."),
        "rejectCommand": op("send", "rejectedCommands", "RejectedCommand",
                            "Relay parks a refused command with the reason."),
        "publishEvent": op("send", "events", "MessageEvent",
                           "Relay publishes each state change of each message."),
    }


class RejectedCommand(SendMessageRequest):
    """A refused command: the body as published, plus why it was refused."""

    reason: str
    code: str
    details: list[dict[str, Any]] = []


def build_document() -> dict[str, Any]:
    """The whole AsyncAPI 3.0 document."""
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Relay broker interface",
            "version": _version(),
            "description": "Other internal services send WhatsApp messages through RabbitMQ "
                           "and follow each message's life through events, without HTTP.",
        },
        "defaultContentType": "application/json",
        "servers": {"rabbitmq": {
            "host": "127.0.0.1:5672", "protocol": "amqp", "protocolVersion": "0.9.1",
            "description": "The vhost of RELAY_AMQP_URL.",
        }},
        "channels": _channels(),
        "operations": _operations(),
        "components": {
            "schemas": _schemas(SendMessageRequest, RejectedCommand, MessageEvent),
            "messages": {
                "SendMessageRequest": _message("SendMessageRequest", "Send one message.",
                                               SendMessageRequest),
                "RejectedCommand": _message("RejectedCommand", "A refused command.",
                                            RejectedCommand),
                "MessageEvent": _message("MessageEvent", "One state change of one message.",
                                         MessageEvent),
            },
        },
    }


def _version() -> str:
    try:
        return metadata.version("relay")
    except metadata.PackageNotFoundError:
        return "0.0.0"


@operation(summary="The AsyncAPI 3.0 document of the broker interface", tag="Documents",
           errors=())
async def asyncapi_json(request: web.Request) -> web.Response:
    return web.json_response(build_document(), dumps=dumps)
