"""docs/API.md documents every route the gateway serves, each with a curl example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.app import create_app
from shared.settings import load_settings

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[3] / "docs" / "API.md"
HEADING = re.compile(r"^### `(GET|POST|PUT|PATCH|DELETE) ([^`]+)`", re.MULTILINE)


def shape(path: str) -> str:
    path = re.split(r"[?\[]", path, maxsplit=1)[0]
    path = re.sub(r":\w+", "{}", path)
    return re.sub(r"\{[^}]*\}", "{}", path)


def sections() -> dict[tuple[str, str], str]:
    text = DOC.read_text()
    found: dict[tuple[str, str], str] = {}
    matches = list(HEADING.finditer(text))
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following else len(text)
        body = text[match.end():end].split("\n## ", 1)[0]
        found[(match.group(1), "/api/v1" + shape(match.group(2)))] = body
    return found


def served() -> set[tuple[str, str]]:
    app = create_app(load_settings(mongodb_url="mongodb://127.0.0.1:1"))
    return {(route.method, shape(route.resource.canonical)) for route in app.router.routes()
            if route.method != "HEAD" and route.resource is not None}


class TestApiDocs:
    """Each API route has a section with a curl; the documents and health routes are shown."""

    def test_every_api_route_has_a_section(self) -> None:
        documents = {"/api/v1/openapi.json", "/api/v1/asyncapi.json"}
        api = {r for r in served() if r[1].startswith("/api/v1/") and r[1] not in documents}
        missing = api - set(sections())
        assert not missing, f"docs/API.md lacks a section for {sorted(missing)}"

    def test_no_section_for_a_route_that_does_not_exist(self) -> None:
        stale = set(sections()) - served()
        assert not stale, f"docs/API.md documents routes the gateway does not serve: {stale}"

    def test_each_section_has_a_curl_with_its_method(self) -> None:
        for (method, path), body in sections().items():
            curls = [line for line in body.splitlines() if "curl " in line]
            assert curls, f"no curl example for {method} {path}"
            if method != "GET":
                assert any(f"-X {method}" in line for line in curls), f"{method} {path}"

    def test_documents_and_health_routes_are_shown(self) -> None:
        text = DOC.read_text()
        for path in ("$RELAY/openapi.json", "$RELAY/asyncapi.json", "/docs", "/health/live",
                     "/health/ready", "/metrics"):
            assert path in text
