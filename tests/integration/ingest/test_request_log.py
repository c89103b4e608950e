"""Request ids and the access log on the real ingest app: the webhook handshake's verify token
(a query parameter) never reaches the log, and every answer carries ``X-Request-Id``."""

from __future__ import annotations

import re

import pytest

from shared.requestlog import HEADER
from tests import ingest_payloads as p
from tests.integration.ingest.conftest import Ingest
from tests.log_capture import captured_logs

pytestmark = pytest.mark.integration


async def test_the_handshake_is_logged_without_its_token(ingest: Ingest) -> None:
    token = ingest.settings.whatsapp_verify_token
    query = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "8812"}
    with captured_logs("ingest") as logs:
        async with ingest.session.get(ingest.url, params=query,
                                      headers={HEADER: "meta-handshake-1"}) as response:
            assert response.status == 200 and await response.text() == "8812"
            assert response.headers[HEADER] == "meta-handshake-1"
    assert token not in logs.text
    (line,) = logs.events("http_request")
    assert line == {**line, "path": "/webhooks/whatsapp", "method": "GET", "status": 200,
                    "request_id": "meta-handshake-1", "service": "ingest"}


async def test_a_refused_webhook_carries_a_new_id_and_is_logged(ingest: Ingest) -> None:
    raw, headers = p.signed({"object": "whatsapp_business_account", "entry": []}, "wrong-secret")
    with captured_logs("ingest") as logs:
        async with ingest.session.post(ingest.url, data=raw, headers={
                **headers, HEADER: "bad id with spaces"}) as response:
            assert response.status == 401
            request_id = response.headers[HEADER]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    statuses = [(r["status"], r["request_id"]) for r in logs.events("http_request")]
    assert statuses == [(401, request_id)]
