"""Request ids and the access log on the real gateway: ``X-Request-Id`` accepted when safe (else
a new one), returned on every answer (errors and streams included), and one JSON access line
per request carrying it."""

from __future__ import annotations

import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from shared.requestlog import HEADER
from tests.integration.gateway.conftest import API, Tenant
from tests.log_capture import captured_logs

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]

GENERATED = re.compile(r"[0-9a-f]{32}")


async def test_a_safe_request_id_is_returned_and_logged(http: Client, alice: Tenant) -> None:
    with captured_logs("gateway") as logs:
        async with http.get(f"{API}/whatsapp-accounts", headers={
                **alice.auth, HEADER: "req-42.a:b_c"}) as response:
            assert response.status == 200
            assert response.headers[HEADER] == "req-42.a:b_c"
    (line,) = [r for r in logs.events("http_request") if r["request_id"] == "req-42.a:b_c"]
    assert line["method"] == "GET" and line["path"] == f"{API}/whatsapp-accounts"
    assert line["status"] == 200 and isinstance(line["duration_ms"], float)
    assert line["service"] == "gateway" and line["level"] == "info"


@pytest.mark.parametrize("sent", [None, "has space", "x" * 129, "new\\nline", "<script>"])
async def test_an_unsafe_or_missing_id_is_replaced(http: Client, sent: str | None) -> None:
    headers = {} if sent is None else {HEADER: sent}
    async with http.get("/health/live", headers=headers) as response:
        assert GENERATED.fullmatch(response.headers[HEADER])


async def test_error_answers_carry_the_id_and_the_log_has_their_status(
    http: Client,
) -> None:
    with captured_logs("gateway") as logs:
        async with http.get(f"{API}/messages", headers={HEADER: "no-auth-1"}) as response:
            assert response.status == 401 and response.headers[HEADER] == "no-auth-1"
        async with http.get("/no/such/route", headers={HEADER: "missing-1"}) as response:
            assert response.status == 404 and response.headers[HEADER] == "missing-1"
    statuses = {r["request_id"]: r["status"] for r in logs.events("http_request")}
    assert statuses == {"no-auth-1": 401, "missing-1": 404}


async def test_the_access_line_never_carries_the_query_string(
    http: Client, alice: Tenant
) -> None:
    with captured_logs("gateway") as logs:
        async with http.get(f"{API}/messages?to=%2B15551234567&apiKey=rk_secret_in_query",
                            headers={**alice.auth, HEADER: "q-1"}) as response:
            assert response.headers[HEADER] == "q-1"
    assert "rk_secret_in_query" not in logs.text and alice.key not in logs.text
    (line,) = logs.events("http_request")
    assert line["path"] == f"{API}/messages"


async def test_what_a_handler_logs_carries_the_request_id(
    http: Client, alice: Tenant
) -> None:
    with captured_logs("gateway") as logs:
        async with http.get(f"{API}/messages", headers={**alice.auth, HEADER: "ctx-1"}):
            pass
    assert all(r.get("request_id") == "ctx-1" for r in logs.records()
               if r["event"] != "outbox_swept")
