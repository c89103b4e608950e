"""Hostile input at the live gateway and ingest: operator injection in every query parameter,
oversized and malformed bodies, wrong content types, unicode edge cases."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from shared.db import Database
from shared.secrets import signature
from shared.settings import Settings
from tests.harness import Api, Stack
from tests.security.conftest import Tenant, client, wait_ready

pytestmark = pytest.mark.e2e

INJECTIONS = ("[$ne]", "[$gt]", "[$regex]", "[$where]", ".$ne", "[]")
VALUES = ('{"$ne": null}', '{"$gt": ""}', "'; return true; //", "$where", ".*", "\u0000")
TRICKY = [
    "emoji 👩🏽‍💻🇺🇦 and ZWJ", "RTL مرحبا بالعالم שלום", "zero‍width​joiner﻿",
    "NUL \u0000 inside", "combining é vs é", "x" * 4096,
]


async def start(stack: Stack, *, sim: bool = False) -> None:
    """The gateway (and the simulator, for tests that need webhooks)."""
    if sim:
        await asyncio.to_thread(stack.start, "sim")
    await asyncio.to_thread(stack.start, "gateway")


async def list_parameters(api: Api) -> dict[str, list[str]]:
    """Every GET route without a path id, with its documented query parameters."""
    async with api.session.get(api.base + "/openapi.json") as response:
        spec = await response.json()
    found = {}
    for path, item in spec["paths"].items():
        get = item.get("get")
        if get and "{" not in path:
            names = [p["name"] for p in get.get("parameters", []) if p.get("in") == "query"]
            if names:
                found[path.removeprefix("/api/v1")] = names
    return found


async def get_text(api: Api, path: str, params: dict[str, str]) -> tuple[int, str]:
    """A GET's status and body as text, whatever its content type (JSON, CSV)."""
    async with api.session.get(api.base + path, params=params,
                               headers={"Authorization": f"Bearer {api.key}"}) as response:
        return response.status, await response.text()


class TestOperatorInjection:
    """Operator-looking keys are refused with 400; operator-looking values are plain strings that
    match nothing of anyone else; never a 5xx."""

    async def test_every_query_parameter_of_every_list(
        self, stack: Stack, settings: Settings, alice: Tenant, bob: Tenant,
        http: aiohttp.ClientSession,
    ) -> None:
        await start(stack)
        api = client(http, settings, bob)
        routes = await list_parameters(api)
        assert {"/messages", "/contacts", "/whatsapp-accounts"} <= set(routes), routes
        tried = 0
        for path, names in routes.items():
            for name in names:
                for suffix in INJECTIONS:
                    status, body = await api.call("GET", path, params={f"{name}{suffix}": "x"})
                    assert status == 400, (path, name, suffix, status, body)
                    assert body["code"] == "VALIDATION_ERROR" and body["message"]
                    tried += 1
                for value in VALUES:  # read as text: the export answers CSV
                    status, text = await get_text(api, path, {name: value})
                    assert status in (200, 400, 404), (path, name, value, status, text)
                    assert alice.account_id not in text
                    tried += 1
        assert tried > 100


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"x": [value]}
    return value


class TestBodies:
    """Oversized, malformed and mistyped bodies get a clear 4xx and store nothing."""

    async def test_oversized_malformed_and_mistyped(
        self, stack: Stack, settings: Settings, db: Database, alice: Tenant,
        http: aiohttp.ClientSession,
    ) -> None:
        await start(stack)
        api = client(http, settings, alice)
        send = {"whatsappAccountId": alice.account_id, "to": "+15551234567", "type": "Text"}
        cases: list[tuple[dict[str, Any], set[int]]] = [
            ({"data": json.dumps({**send, "content": "x" * 400_000}),
              "headers": {"Content-Type": "application/json"}}, {413}),
            ({"data": b'{"whatsappAccountId": ', "headers": {"Content-Type": "application/json"}},
             {400}),
            ({"data": b"[1, 2, 3]", "headers": {"Content-Type": "application/json"}}, {400}),
            ({"data": b"\xff\xfe\x00garbage", "headers": {"Content-Type": "application/json"}},
             {400}),
            ({"data": b"to=%2B1555&type=Text",
              "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, {400, 415}),
            ({"data": b"<xml/>", "headers": {"Content-Type": "text/xml"}}, {400, 415}),
            ({"json": {**send, "content": "x" * 4097}}, {400}),
            ({"json": {**send, "content": "ok", "extra": {"$set": {"userId": "me"}}}}, {400}),
            ({"json": {**send, "content": "ok", "whatsappAccountId": {"$ne": None}}}, {400}),
            # nested past what the parser or MongoDB take: a 400, not a RecursionError's 500
            ({"data": b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
              "headers": {"Content-Type": "application/json"}}, {400}),
            ({"json": {**send, "content": "ok", "interactive": nested(40)}}, {400}),
        ]
        for kwargs, expected in cases:
            status, body = await api.call("POST", "/messages", **kwargs)
            assert status in expected, (kwargs.get("headers"), status, body)
            assert body["success"] is False and body["message"] and body["code"]
        status, body = await api.call("POST", "/media", json={"file": "not multipart"})
        assert status in (400, 415), body
        assert await db.messages.count_documents({}) == 0

    async def test_header_breaking_input_is_never_a_500(
        self, stack: Stack, settings: Settings, alice: Tenant, http: aiohttp.ClientSession,
    ) -> None:
        """An access token with CR/LF (it would go into an Authorization header) and a
        multipart part header with invalid bytes: a clear answer, not a 500 (found by
        schemathesis)."""
        await start(stack, sim=True)
        api = client(http, settings, alice)
        status, body = await api.call("POST", "/whatsapp-accounts", json={
            "name": "crlf", "phoneNumberId": "1700000077", "displayPhoneNumber": "+15550000077",
            "accessToken": "abc\r\nX-Injected: 1"})
        assert status in (201, 400), body
        if status == 201:
            assert body["data"]["status"] == "Disconnected", body
        raw = (b'--b\r\nContent-Disposition: form-data; name="\xf2\x87\x10H"\r\n\r\n{}\r\n'
               b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n'
               b"%PDF-1.4\n%%EOF\r\n--b--\r\n")
        status, body = await api.call("POST", "/media", data=raw, headers={
            "Content-Type": "multipart/form-data; boundary=b"})
        assert status == 400, body

    async def test_lone_surrogates_are_refused_cleanly(
        self, stack: Stack, settings: Settings, db: Database, alice: Tenant,
        http: aiohttp.ClientSession,
    ) -> None:
        await start(stack)
        api = client(http, settings, alice)
        raw = json.dumps({"whatsappAccountId": alice.account_id, "to": "+15551234567",
                          "type": "Text", "content": "broken \ud800 half"}).encode()
        status, body = await api.call("POST", "/messages", data=raw,
                                      headers={"Content-Type": "application/json"})
        assert status == 400, body
        assert await db.messages.count_documents({}) == 0


class TestUnicode:
    """Emoji, RTL, zero-width, NUL and 4096-character texts are stored and returned intact, in
    message content and in account and contact names."""

    async def test_content_and_names_round_trip(
        self, stack: Stack, settings: Settings, db: Database, alice: Tenant,
        http: aiohttp.ClientSession,
    ) -> None:
        await start(stack, sim=True)
        api = client(http, settings, alice)
        for text in TRICKY:
            status, body = await api.call("POST", "/messages", json={
                "whatsappAccountId": alice.account_id, "to": "+15551234567", "type": "Text",
                "content": text})
            assert status == 202, (text[:40], body)
            status, got = await api.call("GET", f"/messages/{body['data']['id']}")
            assert got["data"]["content"] == text
        name = TRICKY[0] + " " + TRICKY[1]
        status, body = await api.call("PATCH", f"/whatsapp-accounts/{alice.account_id}",
                                      json={"name": name})
        assert status == 200, body
        status, got = await api.call("GET", f"/whatsapp-accounts/{alice.account_id}")
        assert got["data"]["name"] == name
        await self.inbound_name(http, settings, db, api, alice, name)

    async def inbound_name(self, http: aiohttp.ClientSession, settings: Settings, db: Database,
                           api: Api, tenant: Tenant, name: str) -> None:
        await asyncio.to_thread(self.stack.start, "ingest")
        await wait_ready(http, settings.ingest_port)
        async with http.post(f"http://127.0.0.1:{settings.sim_port}/_sim/inbound", json={
            "phoneNumberId": tenant.phone_number_id, "from": "+15559876543", "name": name,
            "type": "text", "text": TRICKY[2]}) as response:
            assert (await response.json())["ingestStatus"] == 200
        from tests.conftest import eventually

        async def contact() -> dict[str, Any] | None:
            _, body = await api.call("GET", "/contacts")
            return next((c for c in body["data"]["contacts"] if c["phone"] == "+15559876543"),
                        None)

        found = await eventually(contact, timeout=30, message="inbound contact stored")
        assert found["name"] == name

    @pytest.fixture(autouse=True)
    def _keep(self, stack: Stack) -> None:
        self.stack = stack


class TestWebhookBodies:
    """The webhook refuses oversized, unsigned, wrongly signed and non-object bodies with 4xx."""

    async def test_hostile_webhook_bodies(self, stack: Stack, settings: Settings,
                                          http: aiohttp.ClientSession) -> None:
        await asyncio.to_thread(stack.start, "ingest")
        url = f"http://127.0.0.1:{settings.ingest_port}/webhooks/whatsapp"
        secret = settings.whatsapp_app_secret
        big = json.dumps({"entry": [], "pad": "x" * (1024 * 1024 + 10)}).encode()
        cases = [
            (big, signature(secret, big), {413}),
            (b'{"entry": []}', None, {401}),
            (b'{"entry": []}', "sha256=" + "0" * 64, {401}),
            (b'{"entry": []}', signature("wrong secret", b'{"entry": []}'), {401}),
            (b"[1]", signature(secret, b"[1]"), {400}),
            (b"\xff\xfe", signature(secret, b"\xff\xfe"), {400}),
        ]
        for raw, sig, expected in cases:
            headers = {"Content-Type": "application/json"}
            if sig is not None:
                headers["X-Hub-Signature-256"] = sig
            async with http.post(url, data=raw, headers=headers) as response:
                assert response.status in expected, (raw[:40], response.status)
