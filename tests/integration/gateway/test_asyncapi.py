"""The AsyncAPI 3.0 document: structurally valid, both channels, every event type."""

from __future__ import annotations

import typing
from typing import Any

import jsonschema
import pytest
from aiohttp.test_utils import TestClient

from gateway.asyncapi import build_document
from shared.models import EventType

pytestmark = pytest.mark.integration

# The parts of the AsyncAPI 3.0.0 schema Relay's document uses (the official schema is not
# reachable from CI): required fields and shapes, checked with jsonschema.
ASYNCAPI_3_SHAPE: dict[str, Any] = {
    "type": "object",
    "required": ["asyncapi", "info", "channels", "operations", "components"],
    "properties": {
        "asyncapi": {"const": "3.0.0"},
        "info": {"type": "object", "required": ["title", "version"],
                 "properties": {"title": {"type": "string"}, "version": {"type": "string"}}},
        "defaultContentType": {"type": "string"},
        "servers": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["host", "protocol"]}},
        "channels": {"type": "object", "additionalProperties": {
            "type": "object",
            "properties": {"address": {"type": ["string", "null"]},
                           "messages": {"type": "object", "additionalProperties": {
                               "type": "object", "required": ["$ref"]}},
                           "parameters": {"type": "object"}, "bindings": {"type": "object"}},
        }},
        "operations": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["action", "channel"],
            "properties": {"action": {"enum": ["send", "receive"]},
                           "channel": {"type": "object", "required": ["$ref"]},
                           "messages": {"type": "array", "items": {
                               "type": "object", "required": ["$ref"]}}},
        }},
        "components": {"type": "object", "properties": {
            "schemas": {"type": "object"},
            "messages": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["payload"]}},
        }},
    },
}


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


class TestAsyncApi:
    """Generated from the wire models; every reference resolves; payloads are JSON Schema."""

    def test_structure(self) -> None:
        document = build_document()
        jsonschema.validate(document, ASYNCAPI_3_SHAPE)
        for schema in document["components"]["schemas"].values():
            jsonschema.Draft202012Validator.check_schema(schema)

    def test_every_reference_resolves(self) -> None:
        document = build_document()
        refs: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                refs.extend([node["$ref"]] if "$ref" in node else [])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(document)
        assert refs
        for ref in refs:
            assert resolve(document, ref) is not None, ref

    def test_both_channels_and_every_event_type(self) -> None:
        document = build_document()
        channels = document["channels"]
        commands = channels["commands"]
        assert commands["address"] == "message.send"
        assert commands["bindings"]["amqp"]["exchange"]["name"] == "relay.commands"
        events = channels["events"]
        assert events["bindings"]["amqp"]["exchange"]["name"] == "relay.events"
        assert set(events["parameters"]["eventType"]["enum"]) == set(typing.get_args(EventType))
        payload = document["components"]["schemas"]["MessageEvent"]
        for field in ("eventId", "type", "occurredAt", "messageId", "userId",
                      "whatsappAccountId", "direction", "messageType", "status",
                      "previousStatus"):
            assert field in payload["properties"], field
        request = document["components"]["schemas"]["SendMessageRequest"]
        assert {"userId", "idempotencyKey", "to", "type"} <= set(request["required"])

    async def test_served_without_auth(self, http: TestClient) -> None:
        async with http.get("/api/v1/asyncapi.json") as response:
            assert response.status == 200
            assert await response.json() == build_document()
