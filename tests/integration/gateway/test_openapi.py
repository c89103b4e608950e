"""/api/v1/openapi.json is valid OpenAPI 3.1 with every route; /docs renders it offline."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from gateway.app import create_app
from gateway.openapi import build_document
from shared.broker import Broker
from shared.db import Database
from shared.settings import Settings, load_settings
from tests.integration.gateway.gateway_client import running_gateway

pytestmark = pytest.mark.integration

# Every route of ../shared/CONTRACT.md (path parameters written as {}).
CONTRACT_ROUTES = {
    ("POST", "/api/v1/messages"), ("GET", "/api/v1/messages"), ("GET", "/api/v1/messages/{}"),
    ("GET", "/api/v1/messages/statistics"), ("PUT", "/api/v1/messages/{}/read"),
    ("POST", "/api/v1/messages/{}/retry"),
    ("POST", "/api/v1/whatsapp-accounts"), ("GET", "/api/v1/whatsapp-accounts"),
    ("GET", "/api/v1/whatsapp-accounts/{}"), ("PATCH", "/api/v1/whatsapp-accounts/{}"),
    ("GET", "/api/v1/contacts"), ("GET", "/api/v1/contacts/{}"),
    ("POST", "/api/v1/media"), ("GET", "/api/v1/queues/metrics"),
    ("GET", "/api/v1/asyncapi.json"),
    ("GET", "/health/live"), ("GET", "/health/ready"), ("GET", "/metrics"),
}


def shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), shape(path))
            for path, ops in doc["paths"].items() for method in ops}


@pytest.fixture(scope="module")
def app() -> web.Application:
    """The gateway as built for production, not started (the document needs only routes)."""
    return create_app(load_settings(mongodb_url="mongodb://127.0.0.1:1"))


@pytest.fixture(scope="module")
def document(app: web.Application) -> dict[str, Any]:
    return build_document(app, server_url="http://127.0.0.1:8080", version="test")


class TestDocumentIsComplete:
    """The generated document validates, and lists the contract's and the app's routes."""

    def test_validates_as_openapi_3_1(self, document: dict[str, Any]) -> None:
        assert document["openapi"] == "3.1.0"
        validate(document)

    def test_the_validator_would_catch_a_broken_document(self, document: dict[str, Any]) -> None:
        broken = {**document, "paths": {"/x": {"get": {"responses": {"200": {"$ref": 1}}}}}}
        with pytest.raises(OpenAPIValidationError):
            validate(broken)

    def test_every_contract_route_is_documented(self, document: dict[str, Any]) -> None:
        missing = CONTRACT_ROUTES - documented(document)
        assert not missing, f"routes of the contract missing from the document: {missing}"

    def test_every_registered_route_is_documented(
        self, app: web.Application, document: dict[str, Any]
    ) -> None:
        registered = {(r.method, shape(r.resource.canonical)) for r in app.router.routes()
                      if r.method != "HEAD" and r.resource is not None}
        assert registered <= documented(document)


class TestOperationsCarryTheirModels:
    """Query parameters, bodies, responses, errors and security come from the views' metadata."""

    def test_statistics_query_and_response(self, document: dict[str, Any]) -> None:
        op = document["paths"]["/api/v1/messages/statistics/daily"]["get"]
        names = {p["name"]: p for p in op["parameters"]}
        assert {"whatsappAccountId", "from", "to"} <= set(names)
        assert names["from"]["in"] == "query" and not names["from"]["required"]
        assert op["x-required-scope"] == "messages:read"
        assert op["security"] == [{"bearerAuth": []}]
        data = op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
        assert data["data"] == {"$ref": "#/components/schemas/DailyStatistics"}
        assert "DayPoint" in document["components"]["schemas"]

    def test_media_upload_is_multipart_with_its_errors(self, document: dict[str, Any]) -> None:
        op = document["paths"]["/api/v1/media"]["post"]
        assert "multipart/form-data" in op["requestBody"]["content"]
        assert {"201", "401", "403", "413", "415"} <= set(op["responses"])
        envelope = op["responses"]["415"]["content"]["application/json"]["schema"]
        assert envelope == {"$ref": "#/components/schemas/ErrorEnvelope"}
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header"
                   for p in op["parameters"])

    def test_path_parameters_are_declared(self, document: dict[str, Any]) -> None:
        for path, ops in document["paths"].items():
            for op in ops.values():
                declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
                assert declared == set(re.findall(r"\{(\w+)", path)), path

    def test_schemas_use_the_wire_names(self, document: dict[str, Any]) -> None:
        stats = document["components"]["schemas"]["Statistics"]["properties"]
        assert {"byStatus", "deliveryRate", "readRate"} <= set(stats)

    def test_bearer_scheme_describes_the_scopes(self, document: dict[str, Any]) -> None:
        scheme = document["components"]["securitySchemes"]["bearerAuth"]
        assert scheme["scheme"] == "bearer"
        for scope in ("messages:read", "messages:write", "accounts:read", "accounts:write"):
            assert scope in scheme["description"]


@pytest.fixture
async def client(settings: Settings, db: Database, broker: Broker) -> AsyncIterator[TestClient]:
    async with running_gateway(settings, db=db, broker=broker) as test_client:
        yield test_client


class TestServed:
    """The document needs no key; /docs is one self-contained HTML page built from it."""

    async def test_openapi_json_needs_no_key(self, client: TestClient) -> None:
        response = await client.get("/api/v1/openapi.json")
        assert response.status == 200
        doc = await response.json()
        validate(doc)
        assert doc["servers"][0]["url"].startswith("http://127.0.0.1:")

    async def test_docs_page_renders_every_operation_offline(self, client: TestClient) -> None:
        doc = await (await client.get("/api/v1/openapi.json")).json()
        response = await client.get("/docs")
        assert response.status == 200 and response.content_type == "text/html"
        page = await response.text()
        for path, ops in doc["paths"].items():
            assert f"<code>{path}</code>" in page
            for op in ops.values():
                assert f'id="{op["operationId"]}"' in page
        assert 'id="schema-Statistics"' in page and "deliveryRate" in page
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
        assert "<script" not in page
